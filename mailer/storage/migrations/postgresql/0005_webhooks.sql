-- Webhook events, written in the same transaction as the change that causes them and delivered
-- by the timed work until the receiver answers 2xx (or 24 hours pass).
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    leased_until DOUBLE PRECISION,
    delivered_at DOUBLE PRECISION,
    given_up_at DOUBLE PRECISION,
    last_error TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (delivered_at, given_up_at, next_attempt_at);
-- An inline attachment's Content-ID (the HTML refers to it as cid:<content_id>).
ALTER TABLE message_attachments ADD COLUMN content_id TEXT;
