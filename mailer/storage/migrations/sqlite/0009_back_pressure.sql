-- Back-pressure. Each mailbox numbers what it accepts, so that "N in a window" is one index
-- look-up (the N-th newest's time) instead of a count; the number is unique per mailbox, so
-- two accepts racing for the last place cannot both take it. Each message keeps a digest of
-- what it says (sender, recipients, subject, body) for the repeat guard.
ALTER TABLE messages ADD COLUMN seq INTEGER;
ALTER TABLE messages ADD COLUMN digest TEXT;
CREATE UNIQUE INDEX messages_seq ON messages (mailbox, seq);
CREATE INDEX messages_digest ON messages (mailbox, digest, created_at);
-- Refused sends, for the mailbox's view (kept a day).
CREATE TABLE accept_refusals (
    mailbox TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX accept_refusals_mailbox ON accept_refusals (mailbox, at);
-- How many messages each mailbox holds queued or scheduled, kept by triggers on every change
-- of a message's status: the queue cap reads one row instead of counting the queue.
CREATE TABLE mailbox_waiting (mailbox TEXT PRIMARY KEY, waiting INTEGER NOT NULL);
INSERT INTO mailbox_waiting (mailbox, waiting)
    SELECT mailbox, count(*) FROM messages WHERE status IN ('queued', 'scheduled') GROUP BY mailbox;
CREATE TRIGGER messages_waiting_insert AFTER INSERT ON messages
WHEN NEW.status IN ('queued', 'scheduled')
BEGIN
    INSERT INTO mailbox_waiting (mailbox, waiting) VALUES (NEW.mailbox, 1)
        ON CONFLICT (mailbox) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER messages_waiting_update AFTER UPDATE OF status ON messages
WHEN (OLD.status IN ('queued', 'scheduled')) <> (NEW.status IN ('queued', 'scheduled'))
BEGIN
    INSERT INTO mailbox_waiting (mailbox, waiting)
        VALUES (NEW.mailbox, CASE WHEN NEW.status IN ('queued', 'scheduled') THEN 1 ELSE -1 END)
        ON CONFLICT (mailbox) DO UPDATE SET waiting = waiting + excluded.waiting;
END;
CREATE TRIGGER messages_waiting_delete AFTER DELETE ON messages
WHEN OLD.status IN ('queued', 'scheduled')
BEGIN
    UPDATE mailbox_waiting SET waiting = waiting - 1 WHERE mailbox = OLD.mailbox;
END;
