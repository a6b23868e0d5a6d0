-- The list filtered on one status (GET /api/email/messages?status=queued) reads that status's
-- messages in order, instead of every message of the mailbox to find the few that match.
CREATE INDEX messages_status_listing ON messages (connection_id, status, created_at, id);
