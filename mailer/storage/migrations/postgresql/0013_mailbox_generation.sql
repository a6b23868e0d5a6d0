-- Each mailbox row's generation; see the SQLite migration's note.
ALTER TABLE mailboxes ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
UPDATE mailboxes SET generation = floor(random() * 9e15)::bigint;
CREATE FUNCTION mailboxes_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := floor(random() * 9e15)::bigint;
    RETURN NEW;
END;
$$;
CREATE TRIGGER mailboxes_generation BEFORE INSERT OR UPDATE ON mailboxes
    FOR EACH ROW EXECUTE FUNCTION mailboxes_generation();
