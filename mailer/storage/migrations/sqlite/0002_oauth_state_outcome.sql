-- The consent flow remembers which mailbox it connected, so that a reload of the success page
-- says so instead of "not connected".
ALTER TABLE oauth_states ADD COLUMN connected_address TEXT;
