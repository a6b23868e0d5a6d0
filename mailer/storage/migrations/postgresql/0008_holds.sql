-- A mailbox on hold: Zoho answered what the gateway has no rule for (or said the account may
-- not send), so nothing is sent from it but one probe at a time. It lives beside the throttle
-- pause, in the row every delivery pass reads already.
ALTER TABLE mail_pauses ADD COLUMN held_since DOUBLE PRECISION;
ALTER TABLE mail_pauses ADD COLUMN hold_reason TEXT;
ALTER TABLE mail_pauses ADD COLUMN hold_answer TEXT;
ALTER TABLE mail_pauses ADD COLUMN next_probe_at DOUBLE PRECISION;
-- The messages that met an answer without a rule since the last accepted send (JSON list).
ALTER TABLE mail_pauses ADD COLUMN unknown_streak TEXT;
-- The last answers without a rule, per mailbox, for the admin (never a token or an address).
CREATE TABLE zoho_answers (
    mailbox TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    call_name TEXT NOT NULL,
    http_status INTEGER,
    code TEXT,
    description TEXT
);
CREATE INDEX zoho_answers_mailbox ON zoho_answers (mailbox, at);
