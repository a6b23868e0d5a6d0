-- Each mailbox's suppression list: addresses it sends nothing to (a hard bounce, or an admin).
CREATE TABLE suppressions (
    mailbox TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    message_id TEXT,
    PRIMARY KEY (mailbox, address)
);
