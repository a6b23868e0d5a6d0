-- The admin console (issue 24): its sessions, each message's history, and the hourly counts
-- its charts read.
--
-- A signed-in browser's session, by the SHA-256 of the id its cookie carries; signing out
-- deletes the row, so the old cookie no longer works.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
-- What a search matches without parsing the payload: the subject, and every recipient (to, cc
-- and bcc as given, lower-cased). Rows stored before this keep their JSON lists, which match
-- the same words.
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE messages ADD COLUMN recipients TEXT;
UPDATE messages SET subject = json_extract(payload, '$.subject'),
    recipients = lower(coalesce(json_extract(payload, '$.to'), '') || ' '
        || coalesce(json_extract(payload, '$.cc'), '') || ' '
        || coalesce(json_extract(payload, '$.bcc'), ''));
-- A search across every mailbox reads the newest first.
CREATE INDEX messages_created ON messages (created_at, id);
-- Each attempt of a message as it ended: written by a trigger when a message leaves 'sending'
-- after a call to Zoho (its attempts counted up, or a final status), so every path that
-- records an outcome records its attempt too.
CREATE TABLE message_attempts (
    message_id TEXT NOT NULL,
    at REAL NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error TEXT,
    zoho_error_code TEXT,
    zoho_message_id TEXT
);
CREATE INDEX message_attempts_message ON message_attempts (message_id, at);
CREATE TRIGGER messages_attempt AFTER UPDATE OF status ON messages
WHEN OLD.status = 'sending' AND NEW.status <> 'sending'
    AND (NEW.attempts > OLD.attempts OR NEW.status <> 'queued')
BEGIN
    INSERT INTO message_attempts (message_id, at, attempt, status, error_code, error,
        zoho_error_code, zoho_message_id)
    VALUES (NEW.id, NEW.updated_at, NEW.attempts, NEW.status,
        CASE WHEN NEW.status = 'sent' THEN NULL ELSE NEW.last_error_code END,
        CASE WHEN NEW.status = 'sent' THEN NULL ELSE NEW.last_error END,
        NEW.zoho_error_code, NEW.zoho_message_id);
END;
-- A webhook event's message, for the message's page.
ALTER TABLE webhook_events ADD COLUMN message_id TEXT;
CREATE INDEX webhook_events_message ON webhook_events (message_id);
-- Counts per hour (the hour's first second, Unix time) and outcome, per mailbox and for all
-- of them (mailbox ''): messages sent, failed and bounced, and token renewals and their
-- failures. Kept by triggers, so a chart of 7 days reads at most 168 rows per outcome however
-- many messages there are.
CREATE TABLE activity_hours (
    mailbox TEXT NOT NULL,
    hour INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (mailbox, hour, outcome)
);
INSERT INTO activity_hours (mailbox, hour, outcome, count)
    SELECT mailbox, CAST(coalesce(finished_at, updated_at) / 3600 AS INTEGER) * 3600, status,
        count(*)
    FROM messages WHERE status IN ('sent', 'failed', 'bounced')
    GROUP BY 1, 2, 3;
INSERT INTO activity_hours (mailbox, hour, outcome, count)
    SELECT '', hour, outcome, sum(count) FROM activity_hours GROUP BY 2, 3;
CREATE TRIGGER messages_outcome_hours AFTER UPDATE OF status ON messages
WHEN NEW.status IN ('sent', 'failed', 'bounced') AND OLD.status <> NEW.status
BEGIN
    INSERT INTO activity_hours (mailbox, hour, outcome, count)
        VALUES ('', CAST(NEW.updated_at / 3600 AS INTEGER) * 3600, NEW.status, 1)
        ON CONFLICT (mailbox, hour, outcome) DO UPDATE SET count = count + 1;
    INSERT INTO activity_hours (mailbox, hour, outcome, count)
        VALUES (NEW.mailbox, CAST(NEW.updated_at / 3600 AS INTEGER) * 3600, NEW.status, 1)
        ON CONFLICT (mailbox, hour, outcome) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER mailboxes_renewal_hours AFTER UPDATE OF last_renewal_at ON mailboxes
WHEN NEW.last_renewal_at IS NOT NULL AND NEW.last_renewal_outcome IS NOT NULL
    AND NEW.last_renewal_outcome <> 'connected'
    AND (OLD.last_renewal_at IS NULL OR NEW.last_renewal_at <> OLD.last_renewal_at)
BEGIN
    INSERT INTO activity_hours (mailbox, hour, outcome, count)
        VALUES ('', CAST(NEW.last_renewal_at / 3600 AS INTEGER) * 3600,
            CASE WHEN NEW.last_renewal_outcome = 'renewed' THEN 'renewed'
                ELSE 'renewal_failed' END, 1)
        ON CONFLICT (mailbox, hour, outcome) DO UPDATE SET count = count + 1;
    INSERT INTO activity_hours (mailbox, hour, outcome, count)
        VALUES (NEW.name, CAST(NEW.last_renewal_at / 3600 AS INTEGER) * 3600,
            CASE WHEN NEW.last_renewal_outcome = 'renewed' THEN 'renewed'
                ELSE 'renewal_failed' END, 1)
        ON CONFLICT (mailbox, hour, outcome) DO UPDATE SET count = count + 1;
END;
