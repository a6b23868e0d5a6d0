-- Bounces read back from each mailbox (MAILER_BOUNCES=on); see the SQLite migration's notes.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('scheduled', 'queued', 'sending', 'sent', 'failed', 'canceled', 'bounced'));
CREATE INDEX messages_mail_id ON messages (mailbox, mail_id);
ALTER TABLE mailboxes ADD COLUMN scopes TEXT;
CREATE TABLE bounce_marks (
    mailbox TEXT PRIMARY KEY,
    folder_id TEXT,
    mark_ms BIGINT NOT NULL,
    next_poll_at DOUBLE PRECISION NOT NULL,
    claimed_until DOUBLE PRECISION
);
CREATE TABLE bounces (
    mailbox TEXT NOT NULL,
    zoho_message_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
    status TEXT NOT NULL,
    diagnostic TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (mailbox, zoho_message_id, recipient)
);
CREATE INDEX bounces_message ON bounces (message_id);
