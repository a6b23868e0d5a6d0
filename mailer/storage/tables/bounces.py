"""Bounces read back from each mailbox: the reading's mark and claim (table ``bounce_marks``),
the bounces tied to messages (``bounces``), and what a bounce changes (the message's status,
the suppression list, a webhook event) in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailer.storage.database import Database, Tx
from mailer.storage.records import BounceRecord, StoredMessage, WebhookEvent
from mailer.storage.tables.message_rows import bounces_of, stored_message
from mailer.storage.tables.webhooks import insert_event

# A mailbox that may be read: connected, and its consent granted reading messages and folders.
_READABLE = (
    "m.refresh_token IS NOT NULL AND m.needs_reauth = 0"
    " AND (m.scopes LIKE ? OR m.scopes LIKE ?) AND (m.scopes LIKE ? OR m.scopes LIKE ?)"
)
_READ_SCOPES = (
    "%ZohoMail.messages.READ%",
    "%ZohoMail.messages.ALL%",
    "%ZohoMail.folders.READ%",
    "%ZohoMail.folders.ALL%",
)
# How many recent messages to a recipient a bounce without a Message-ID is weighed against.
_CANDIDATES = 50


class BounceTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim_polls(
        self, *, now: float, claimed_until: float, first_mark_ms: int, limit: int
    ) -> list[str]:
        """Claim the mailboxes whose reading is due, that their consent lets the gateway read
        and that no other worker or host holds; a mailbox read for the first time starts at
        ``first_mark_ms``. One read finds them; one conditional upsert each decides races."""
        with self._db.read() as tx:
            due = tx.rows(
                f"SELECT m.name FROM mailboxes m LEFT JOIN bounce_marks b ON b.mailbox = m.name"
                f" WHERE {_READABLE} AND (b.mailbox IS NULL OR (b.next_poll_at <= ?"
                " AND (b.claimed_until IS NULL OR b.claimed_until <= ?)))"
                " ORDER BY b.next_poll_at LIMIT ?",
                (*_READ_SCOPES, now, now, limit),
            )
        claimed = []
        for name in (row["name"] for row in due):
            changed = self._db.run(
                "INSERT INTO bounce_marks (mailbox, folder_id, mark_ms, next_poll_at, claimed_until)"
                " VALUES (?, NULL, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE"
                " SET claimed_until = excluded.claimed_until"
                " WHERE bounce_marks.next_poll_at <= ? AND (bounce_marks.claimed_until IS NULL"
                " OR bounce_marks.claimed_until <= ?)",
                (name, first_mark_ms, now, claimed_until, now, now),
            )
            if changed == 1:
                claimed.append(name)
        return claimed

    def mark(self, mailbox: str) -> tuple[str | None, int]:
        """The Inbox's id (None: not looked up yet) and the newest receivedTime read."""
        with self._db.read() as tx:
            row = tx.row(
                "SELECT folder_id, mark_ms FROM bounce_marks WHERE mailbox = ?", (mailbox,)
            )
        return (None, 0) if row is None else (row["folder_id"], int(row["mark_ms"]))

    def advance(self, mailbox: str, *, folder_id: str, mark_ms: int, next_poll_at: float) -> None:
        """A pass read up to ``mark_ms``: keep it and release the claim."""
        self._db.run(
            "UPDATE bounce_marks SET folder_id = ?, mark_ms = ?, next_poll_at = ?,"
            " claimed_until = NULL WHERE mailbox = ?",
            (folder_id, mark_ms, next_poll_at, mailbox),
        )

    def release(self, mailbox: str, *, next_poll_at: float) -> None:
        """A pass that could not read: the mark stays, the next try waits."""
        self._db.run(
            "UPDATE bounce_marks SET next_poll_at = ?, claimed_until = NULL WHERE mailbox = ?",
            (next_poll_at, mailbox),
        )

    def tie(
        self, mailbox: str, *, mail_id: str | None, recipients: Sequence[str], since: float
    ) -> StoredMessage | None:
        """The message a bounce answers: by the Message-ID Zoho returned at send time, else
        the newest message sent (or bounced) since ``since`` to one of ``recipients``."""
        with self._db.read() as tx:
            if mail_id:
                row = tx.row(
                    "SELECT * FROM messages WHERE mailbox = ? AND mail_id IN (?, ?)"
                    " AND status IN ('sent', 'bounced')",
                    (mailbox, mail_id, f"<{mail_id}>"),
                )
                if row is not None:
                    return stored_message(row, [])
            rows = tx.rows(
                "SELECT * FROM messages WHERE mailbox = ? AND status IN ('sent', 'bounced')"
                " AND finished_at >= ? ORDER BY finished_at DESC LIMIT ?",
                (mailbox, since, _CANDIDATES),
            )
        wanted = {address.lower() for address in recipients}
        for row in rows:
            message = stored_message(row, [])
            if wanted & message.recipient_addresses:
                return message
        return None

    def record(
        self,
        message: StoredMessage,
        zoho_message_id: str,
        bounces: Sequence[BounceRecord],
        *,
        now: float,
        event: Callable[[StoredMessage], WebhookEvent | None],
    ) -> list[BounceRecord]:
        """Keep the bounces not kept before (a bounce read twice counts once); a hard one makes
        the message ``bounced`` and suppresses its recipient; ``event`` (of the message as it
        then stands) commits with them. Returns the bounces this call kept."""
        kept = []
        with self._db.write(serialize=f"bounces:{message.mailbox}") as tx:
            for bounce in bounces:
                changed = tx.execute(
                    "INSERT INTO bounces (mailbox, zoho_message_id, recipient, message_id, kind,"
                    " status, diagnostic, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (mailbox, zoho_message_id, recipient) DO NOTHING",
                    (
                        message.mailbox,
                        zoho_message_id,
                        bounce.recipient,
                        message.id,
                        bounce.kind,
                        bounce.status,
                        bounce.diagnostic,
                        bounce.at,
                    ),
                )
                if changed == 1:
                    kept.append(bounce)
            if not kept:
                return []
            for bounce in kept:
                if bounce.kind == "hard":
                    _suppress(tx, message, bounce.recipient, now)
            if any(bounce.kind == "hard" for bounce in kept):
                tx.execute(
                    "UPDATE messages SET status = 'bounced', updated_at = ?"
                    " WHERE id = ? AND status = 'sent'",
                    (now, message.id),
                )
            current = _message_with_bounces(tx, message.id)
            made = event(current) if current is not None else None
            if made is not None:
                insert_event(tx, made)
        return kept

    def of_message(self, message_id: str) -> tuple[BounceRecord, ...]:
        with self._db.read() as tx:
            return bounces_of(tx, message_id)


def _suppress(tx: Tx, message: StoredMessage, address: str, now: float) -> None:
    tx.execute(
        "INSERT INTO suppressions (mailbox, address, reason, created_at, message_id)"
        " VALUES (?, ?, 'hard_bounce', ?, ?) ON CONFLICT (mailbox, address) DO NOTHING",
        (message.mailbox, address, now, message.id),
    )


def _message_with_bounces(tx: Tx, message_id: str) -> StoredMessage | None:
    row = tx.row("SELECT * FROM messages WHERE id = ?", (message_id,))
    if row is None:
        return None
    return stored_message(row, [], bounces_of(tx, message_id))
