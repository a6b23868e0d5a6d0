-- Back-pressure. Each mailbox numbers what it accepts, so that "N in a window" is one index
-- look-up (the N-th newest's time) instead of a count; the number is unique per mailbox, so
-- two accepts racing for the last place cannot both take it. Each message keeps a digest of
-- what it says (sender, recipients, subject, body) for the repeat guard.
ALTER TABLE messages ADD COLUMN seq BIGINT;
ALTER TABLE messages ADD COLUMN digest TEXT;
CREATE UNIQUE INDEX messages_seq ON messages (mailbox, seq);
CREATE INDEX messages_digest ON messages (mailbox, digest, created_at);
-- Refused sends, for the mailbox's view (kept a day).
CREATE TABLE accept_refusals (
    mailbox TEXT NOT NULL,
    reason TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX accept_refusals_mailbox ON accept_refusals (mailbox, at);
-- How many messages each mailbox holds queued or scheduled, kept by a trigger on every change
-- of a message's status: the queue cap reads one row instead of counting the queue.
CREATE TABLE mailbox_waiting (mailbox TEXT PRIMARY KEY, waiting BIGINT NOT NULL);
INSERT INTO mailbox_waiting (mailbox, waiting)
    SELECT mailbox, count(*) FROM messages WHERE status IN ('queued', 'scheduled') GROUP BY mailbox;
CREATE FUNCTION mailbox_waiting_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was BOOLEAN := FALSE;
    is_now BOOLEAN := FALSE;
    box TEXT;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        was := OLD.status IN ('queued', 'scheduled');
        box := OLD.mailbox;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        is_now := NEW.status IN ('queued', 'scheduled');
        box := NEW.mailbox;
    END IF;
    IF was <> is_now THEN
        INSERT INTO mailbox_waiting (mailbox, waiting)
            VALUES (box, CASE WHEN is_now THEN 1 ELSE -1 END)
            ON CONFLICT (mailbox)
            DO UPDATE SET waiting = mailbox_waiting.waiting + EXCLUDED.waiting;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_waiting AFTER INSERT OR DELETE OR UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION mailbox_waiting_count();
