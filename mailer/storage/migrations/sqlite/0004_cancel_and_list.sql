-- Messages can be canceled (and, with the send API's send_at, scheduled), requeued by an
-- operator, and listed newest first. SQLite cannot change a CHECK constraint: the table is
-- rebuilt (yoyo's connection does not enforce foreign keys, so the attachments stay).
CREATE TABLE messages_new (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('scheduled', 'queued', 'sending', 'sent', 'failed', 'canceled')),
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
    requeued_at REAL
);
INSERT INTO messages_new (id, connection_id, status, payload, calls, attempts, next_attempt_at,
    lease_owner, leased_until, last_error_code, last_error, zoho_error_code, zoho_message_id,
    mail_id, created_at, updated_at, finished_at)
SELECT id, connection_id, status, payload, calls, attempts, next_attempt_at, lease_owner,
    leased_until, last_error_code, last_error, zoho_error_code, zoho_message_id, mail_id,
    created_at, updated_at, finished_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_due ON messages (connection_id, status, next_attempt_at);
CREATE INDEX messages_finished ON messages (finished_at);
CREATE INDEX messages_due_any ON messages (status, next_attempt_at);
CREATE INDEX messages_listing ON messages (connection_id, created_at, id);
-- A message's tags, for the list's tag filter (newest first within a tag).
CREATE TABLE message_tags (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (message_id, tag)
);
CREATE INDEX message_tags_listing ON message_tags (connection_id, tag, created_at, message_id);
