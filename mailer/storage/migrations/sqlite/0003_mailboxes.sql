-- Several mailboxes: who may send from which (keys, stored hashed), links that let a mailbox's
-- owner connect it without the admin password, and what the renewal sweep claims.
ALTER TABLE connections ADD COLUMN created_at REAL;
ALTER TABLE connections ADD COLUMN from_address TEXT;
ALTER TABLE connections ADD COLUMN outgoing_blocked INTEGER NOT NULL DEFAULT 0;
-- Which worker or host renews this mailbox now (the sweep's claim), and until when at most.
ALTER TABLE connections ADD COLUMN renewal_claimed_until REAL;
CREATE INDEX connections_renewal ON connections (next_renewal_at);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    mailbox TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE INDEX api_keys_mailbox ON api_keys (mailbox);
CREATE TABLE connect_links (
    token_hash TEXT PRIMARY KEY,
    mailbox TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
ALTER TABLE oauth_states ADD COLUMN mailbox TEXT NOT NULL DEFAULT 'default';
ALTER TABLE oauth_states ADD COLUMN via_link INTEGER NOT NULL DEFAULT 0;
-- The delivery loop asks which mailboxes have due messages, over all of them.
CREATE INDEX messages_due_any ON messages (status, next_attempt_at);
-- A connected mailbox always has a renewal time, so that the sweep's search is an index range.
UPDATE connections SET next_renewal_at = 0 WHERE next_renewal_at IS NULL AND refresh_token IS NOT NULL;
