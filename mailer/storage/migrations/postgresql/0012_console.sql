-- The admin console (issue 24); see the SQLite migration's notes.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE messages ADD COLUMN recipients TEXT;
UPDATE messages SET subject = payload::jsonb ->> 'subject',
    recipients = lower(coalesce(payload::jsonb ->> 'to', '') || ' '
        || coalesce(payload::jsonb ->> 'cc', '') || ' '
        || coalesce(payload::jsonb ->> 'bcc', ''));
CREATE INDEX messages_created ON messages (created_at, id);
CREATE TABLE message_attempts (
    message_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error TEXT,
    zoho_error_code TEXT,
    zoho_message_id TEXT
);
CREATE INDEX message_attempts_message ON message_attempts (message_id, at);
ALTER TABLE webhook_events ADD COLUMN message_id TEXT;
CREATE INDEX webhook_events_message ON webhook_events (message_id);
CREATE TABLE activity_hours (
    mailbox TEXT NOT NULL,
    hour BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (mailbox, hour, outcome)
);
INSERT INTO activity_hours (mailbox, hour, outcome, count)
    SELECT mailbox, (floor(coalesce(finished_at, updated_at) / 3600) * 3600)::bigint, status,
        count(*)
    FROM messages WHERE status IN ('sent', 'failed', 'bounced')
    GROUP BY 1, 2, 3;
INSERT INTO activity_hours (mailbox, hour, outcome, count)
    SELECT '', hour, outcome, sum(count) FROM activity_hours GROUP BY 2, 3;
-- One function counts an hour for all mailboxes and for one; the row for all ('') first, so
-- two transactions take the rows' locks in one order.
CREATE FUNCTION activity_count(box TEXT, at DOUBLE PRECISION, what TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_hours (mailbox, hour, outcome, count)
        VALUES ('', (floor(at / 3600) * 3600)::bigint, what, 1), (box, (floor(at / 3600) * 3600)::bigint, what, 1)
        ON CONFLICT (mailbox, hour, outcome) DO UPDATE SET count = activity_hours.count + 1;
END;
$$;
CREATE FUNCTION messages_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'sending' AND NEW.status <> 'sending'
            AND (NEW.attempts > OLD.attempts OR NEW.status <> 'queued') THEN
        INSERT INTO message_attempts (message_id, at, attempt, status, error_code, error,
            zoho_error_code, zoho_message_id)
        VALUES (NEW.id, NEW.updated_at, NEW.attempts, NEW.status,
            CASE WHEN NEW.status = 'sent' THEN NULL ELSE NEW.last_error_code END,
            CASE WHEN NEW.status = 'sent' THEN NULL ELSE NEW.last_error END,
            NEW.zoho_error_code, NEW.zoho_message_id);
    END IF;
    IF NEW.status IN ('sent', 'failed', 'bounced') AND OLD.status <> NEW.status THEN
        PERFORM activity_count(NEW.mailbox, NEW.updated_at, NEW.status);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_history AFTER UPDATE OF status ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_history();
CREATE FUNCTION mailboxes_renewal_hours() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_renewal_at IS NOT NULL AND NEW.last_renewal_outcome IS NOT NULL
            AND NEW.last_renewal_outcome <> 'connected'
            AND NEW.last_renewal_at IS DISTINCT FROM OLD.last_renewal_at THEN
        PERFORM activity_count(NEW.name, NEW.last_renewal_at,
            CASE WHEN NEW.last_renewal_outcome = 'renewed' THEN 'renewed'
                ELSE 'renewal_failed' END);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER mailboxes_renewal_hours AFTER UPDATE OF last_renewal_at ON mailboxes
    FOR EACH ROW EXECUTE FUNCTION mailboxes_renewal_hours();
