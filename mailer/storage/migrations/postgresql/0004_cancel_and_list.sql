-- Messages can be canceled (and, with the send API's send_at, scheduled), requeued by an
-- operator, and listed newest first.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('scheduled', 'queued', 'sending', 'sent', 'failed', 'canceled'));
ALTER TABLE messages ADD COLUMN requeued_at DOUBLE PRECISION;
CREATE INDEX messages_listing ON messages (connection_id, created_at, id);
-- A message's tags, for the list's tag filter (newest first within a tag).
CREATE TABLE message_tags (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (message_id, tag)
);
CREATE INDEX message_tags_listing ON message_tags (connection_id, tag, created_at, message_id);
