-- The first schema on PostgreSQL: the tables of 0.1.0's SQLite file, in schema mailer.
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    refresh_token TEXT,
    seed_fingerprint TEXT,
    accounts_url TEXT NOT NULL,
    mail_api_url TEXT NOT NULL,
    account_id TEXT,
    primary_address TEXT,
    send_as TEXT NOT NULL DEFAULT '[]',
    access_token TEXT,
    access_expires_at DOUBLE PRECISION,
    next_renewal_at DOUBLE PRECISION,
    renewal_failures INTEGER NOT NULL DEFAULT 0,
    last_renewal_at DOUBLE PRECISION,
    last_renewal_outcome TEXT,
    needs_reauth INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    answer TEXT,
    leased_until DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    payload TEXT NOT NULL,
    calls INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    leased_until DOUBLE PRECISION,
    last_error_code TEXT,
    last_error TEXT,
    zoho_error_code TEXT,
    zoho_message_id TEXT,
    mail_id TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (connection_id, status, next_attempt_at);
CREATE INDEX IF NOT EXISTS messages_finished ON messages (finished_at);
CREATE TABLE IF NOT EXISTS message_attachments (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BYTEA NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE TABLE IF NOT EXISTS mail_calls (connection_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS mail_calls_at ON mail_calls (connection_id, at);
CREATE TABLE IF NOT EXISTS mail_pauses (
    connection_id TEXT PRIMARY KEY,
    paused_until DOUBLE PRECISION NOT NULL,
    throttles INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_states (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
