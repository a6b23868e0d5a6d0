-- One name per concept: the mailboxes' table is `mailboxes`, keyed by `name`, and every
-- table that points at a mailbox calls that column `mailbox`.
ALTER TABLE connections RENAME TO mailboxes;
ALTER TABLE mailboxes RENAME COLUMN id TO name;
ALTER TABLE messages RENAME COLUMN connection_id TO mailbox;
ALTER TABLE message_tags RENAME COLUMN connection_id TO mailbox;
ALTER TABLE mail_calls RENAME COLUMN connection_id TO mailbox;
ALTER TABLE mail_pauses RENAME COLUMN connection_id TO mailbox;
ALTER INDEX connections_renewal RENAME TO mailboxes_renewal;
