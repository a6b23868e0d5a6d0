-- Bounces read back from each mailbox (MAILER_BOUNCES=on). A message a bounce ties to becomes
-- 'bounced'; SQLite cannot change a CHECK constraint, so the table is rebuilt with its indexes
-- and 0009's triggers (dropped with the old table). The copy fires no trigger, so
-- mailbox_waiting stays right; yoyo's connection does not enforce foreign keys, so the
-- attachments and tags stay.
CREATE TABLE messages_new (
    id TEXT PRIMARY KEY,
    mailbox TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('scheduled', 'queued', 'sending', 'sent', 'failed', 'canceled', 'bounced')),
    payload TEXT NOT NULL,
    calls INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    leased_until REAL,
    last_error_code TEXT,
    last_error TEXT,
    zoho_error_code TEXT,
    zoho_message_id TEXT,
    mail_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    requeued_at REAL,
    seq INTEGER,
    digest TEXT
);
INSERT INTO messages_new (id, mailbox, status, payload, calls, attempts, next_attempt_at,
    lease_owner, leased_until, last_error_code, last_error, zoho_error_code, zoho_message_id,
    mail_id, created_at, updated_at, finished_at, requeued_at, seq, digest)
SELECT id, mailbox, status, payload, calls, attempts, next_attempt_at, lease_owner,
    leased_until, last_error_code, last_error, zoho_error_code, zoho_message_id, mail_id,
    created_at, updated_at, finished_at, requeued_at, seq, digest
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_due ON messages (mailbox, status, next_attempt_at);
CREATE INDEX messages_finished ON messages (finished_at);
CREATE INDEX messages_due_any ON messages (status, next_attempt_at);
CREATE INDEX messages_listing ON messages (mailbox, created_at, id);
CREATE INDEX messages_status_listing ON messages (mailbox, status, created_at, id);
CREATE UNIQUE INDEX messages_seq ON messages (mailbox, seq);
CREATE INDEX messages_digest ON messages (mailbox, digest, created_at);
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
-- A bounce ties to its message by the Message-ID Zoho returned at send time.
CREATE INDEX messages_mail_id ON messages (mailbox, mail_id);
-- The scopes a mailbox's consent granted (space-separated, as Zoho's token reply says them);
-- NULL for a mailbox connected before they were kept.
ALTER TABLE mailboxes ADD COLUMN scopes TEXT;
-- Each mailbox's reading of its Inbox: the Inbox's id, the newest receivedTime read, and the
-- claim of the host reading it now.
CREATE TABLE bounce_marks (
    mailbox TEXT PRIMARY KEY,
    folder_id TEXT,
    mark_ms INTEGER NOT NULL,
    next_poll_at REAL NOT NULL,
    claimed_until REAL
);
-- One row per recipient a bounce reports for a message of ours; the key makes a bounce count
-- once, however many hosts read it.
CREATE TABLE bounces (
    mailbox TEXT NOT NULL,
    zoho_message_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
    status TEXT NOT NULL,
    diagnostic TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (mailbox, zoho_message_id, recipient)
);
CREATE INDEX bounces_message ON bounces (message_id);
