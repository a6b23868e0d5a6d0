-- Each mailbox row's generation: a new random number on every change of the row (and for a
-- new row), so that a worker that keeps the row in memory learns, in the statement that stores
-- an accepted message, whether what it checked the message against is still the row.
ALTER TABLE mailboxes ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET generation = abs(random() % 9223372036854775807);
CREATE TRIGGER mailboxes_generation_insert AFTER INSERT ON mailboxes
BEGIN
    UPDATE mailboxes SET generation = abs(random() % 9223372036854775807) WHERE name = NEW.name;
END;
CREATE TRIGGER mailboxes_generation AFTER UPDATE ON mailboxes
WHEN NEW.generation = OLD.generation
BEGIN
    UPDATE mailboxes SET generation = abs(random() % 9223372036854775807) WHERE name = NEW.name;
END;
