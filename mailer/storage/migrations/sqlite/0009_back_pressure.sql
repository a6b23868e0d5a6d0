-- Back-pressure. Each mailbox numbers what it accepts, so that "N in a window" is one index
-- look-up (the N-th newest's time) instead of a count; the number is unique per mailbox, so
-- two accepts racing for the last place cannot both take it. Each message keeps a digest of
-- what it says (sender, recipients, subject, body) for the repeat guard.
ALTER TABLE messages ADD COLUMN seq INTEGER;
ALTER TABLE messages ADD COLUMN digest TEXT;
CREATE UNIQUE INDEX messages_seq ON messages (mailbox, seq);
CREATE INDEX messages_digest ON messages (mailbox, digest, created_at);
-- Refused sends, for the mailbox's view (kept a day).
CREATE TABLE accept_refusals (
    mailbox TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX accept_refusals_mailbox ON accept_refusals (mailbox, at);
