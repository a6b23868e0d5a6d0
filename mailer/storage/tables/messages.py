"""Accepted messages and their attachments (tables ``messages``, ``message_attachments``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailer.storage.admission_records import NewMessage
from mailer.storage.database import Database
from mailer.storage.ports import QueueStats
from mailer.storage.records import Outcome, StoredMessage, WebhookEvent
from mailer.storage.tables.message_rows import (
    INSERT,
    bounces_of,
    insert_message,
    insert_row,
    lease,
    new_message,
    stored_message,
)
from mailer.storage.tables.webhooks import insert_event

_DUE = (
    "mailbox = ? AND ((status IN ('queued', 'scheduled') AND next_attempt_at <= ?)"
    " OR (status = 'sending' AND leased_until <= ?))"
)


class MessageTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        new: NewMessage,
        *,
        now: float,
        lease_owner: str | None = None,
        leased_until: float | None = None,
    ) -> StoredMessage:
        stored = new_message(new, now=now, leased_until=leased_until if lease_owner else None)
        self.insert(stored, lease_owner, tags=new.tags, seq=None, digest=new.digest)
        return stored

    def insert(
        self,
        stored: StoredMessage,
        lease_owner: str | None,
        *,
        tags: tuple[str, ...] = (),
        seq: int | None = None,
        digest: str | None = None,
    ) -> None:
        """Store a new message: one statement (no transaction) unless it has tags or files."""
        if not stored.attachments and not tags:
            self._db.run(INSERT, insert_row(stored, lease_owner, seq, digest))
        else:
            with self._db.write() as tx:
                insert_message(tx, stored, lease_owner, tags=tags, seq=seq, digest=digest)

    def claim_due(
        self, mailbox: str, *, now: float, owner: str, leased_until: float
    ) -> StoredMessage | None:
        with self._db.read() as tx:
            due = tx.row(f"SELECT 1 AS due FROM messages WHERE {_DUE} LIMIT 1", (mailbox, now, now))
        if due is None:
            return None  # the common case, answered without a write transaction
        with self._db.write() as tx:
            row = tx.row(
                f"SELECT id FROM messages WHERE {_DUE}"
                f" ORDER BY next_attempt_at, created_at LIMIT 1{self._db.claim_suffix}",
                (mailbox, now, now),
            )
            if row is None:
                return None
            lease(tx, row["id"], owner, leased_until, now)
        return self.get(row["id"])

    def claim_probe(
        self, mailbox: str, *, held_since: float, now: float, owner: str, leased_until: float
    ) -> StoredMessage | None:
        with self._db.write() as tx:
            row = tx.row(
                "SELECT id FROM messages WHERE mailbox = ?"
                " AND (status = 'queued' OR (status = 'sending' AND leased_until <= ?))"
                " ORDER BY CASE WHEN updated_at > created_at AND updated_at >= ? THEN 1 ELSE 0"
                f" END, next_attempt_at, created_at LIMIT 1{self._db.claim_suffix}",
                (mailbox, now, held_since),
            )
            if row is None:
                return None
            lease(tx, row["id"], owner, leased_until, now)
        return self.get(row["id"])

    def release_held(self, mailbox: str, *, now: float) -> int:
        return self._db.run(
            "UPDATE messages SET next_attempt_at = ? WHERE mailbox = ? AND status = 'queued'"
            " AND next_attempt_at > ?",
            (now, mailbox, now),
        )

    def due_mailboxes(self, *, now: float) -> list[str]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT DISTINCT mailbox FROM messages"
                " WHERE (status IN ('queued', 'scheduled') AND next_attempt_at <= ?)"
                " OR (status = 'sending' AND leased_until <= ?)",
                (now, now),
            )
        return [row["mailbox"] for row in rows]

    def fail_waiting(
        self,
        mailbox: str,
        *,
        code: str,
        error: str,
        now: float,
        event_for: Callable[[StoredMessage], WebhookEvent | None] | None = None,
    ) -> list[str]:
        with self._db.write() as tx:
            rows = tx.rows(
                "UPDATE messages SET status = 'failed', last_error_code = ?, last_error = ?,"
                " lease_owner = NULL, leased_until = NULL, updated_at = ?, finished_at = ?"
                " WHERE mailbox = ? AND (status IN ('queued', 'scheduled')"
                " OR (status = 'sending' AND leased_until <= ?)) RETURNING *",
                (code, error, now, now, mailbox, now),
            )
            for row in rows:  # each failure's event commits with it
                event = event_for(stored_message(row, [])) if event_for is not None else None
                if event is not None:
                    insert_event(tx, event)
        return [row["id"] for row in rows]

    def get(self, message_id: str) -> StoredMessage | None:
        with self._db.read() as tx:
            row = tx.row("SELECT * FROM messages WHERE id = ?", (message_id,))
            if row is None:
                return None
            attachments = tx.rows(
                "SELECT filename, content_type, content, content_id FROM message_attachments"
                " WHERE message_id = ? ORDER BY position",
                (message_id,),
            )
            bounces = bounces_of(tx, message_id) if row["status"] in ("sent", "bounced") else ()
        return stored_message(row, attachments, bounces)

    def finish(
        self,
        message_id: str,
        owner: str,
        outcome: Outcome,
        *,
        now: float,
        event: WebhookEvent | None = None,
    ) -> bool:
        sql = (
            "UPDATE messages SET status = ?, attempts = ?, zoho_message_id = ?, mail_id = ?,"
            " last_error_code = COALESCE(?, last_error_code),"
            " last_error = COALESCE(?, last_error), zoho_error_code = ?,"
            " lease_owner = NULL, leased_until = NULL, updated_at = ?, finished_at = ?"
            " WHERE id = ? AND lease_owner = ? AND status = 'sending'"
        )
        params = (
            *(outcome.status, outcome.attempts, outcome.zoho_message_id, outcome.mail_id),
            *(outcome.error_code, outcome.error, outcome.zoho_error_code, now, now),
            *(message_id, owner),
        )
        if event is None:
            return self._db.run(sql, params) == 1
        with self._db.write() as tx:
            if tx.execute(sql, params) != 1:
                return False
            insert_event(tx, event)  # the event commits with the outcome, or neither does
            return True

    def retry(
        self,
        message_id: str,
        owner: str,
        *,
        next_attempt_at: float,
        attempts: int,
        now: float,
        error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        changed = self._db.run(
            "UPDATE messages SET status = 'queued', attempts = ?, next_attempt_at = ?,"
            " last_error_code = COALESCE(?, last_error_code),"
            " last_error = COALESCE(?, last_error), lease_owner = NULL, leased_until = NULL,"
            " updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'sending'",
            (attempts, next_attempt_at, error_code, error, now, message_id, owner),
        )
        return changed == 1

    def cancel(
        self, message_id: str, mailbox: str, *, now: float
    ) -> tuple[bool, StoredMessage | None]:
        """Cancel a message that waits (one statement decides against a claim); returns whether
        this call canceled it and the message as it stands after (None: no such message)."""
        changed = self._db.run(
            "UPDATE messages SET status = 'canceled', updated_at = ?, finished_at = ?"
            " WHERE id = ? AND mailbox = ? AND status IN ('queued', 'scheduled')",
            (now, now, message_id, mailbox),
        )
        stored = self.get(message_id)
        return changed == 1, stored if stored is not None and stored.mailbox == mailbox else None

    def requeue(self, message_id: str, mailbox: str, *, now: float) -> StoredMessage | None:
        """Make a failed or waiting message due now, with its attempts and age counted anew."""
        self._db.run(
            "UPDATE messages SET status = 'queued', attempts = 0, next_attempt_at = ?,"
            " finished_at = NULL, requeued_at = ?, updated_at = ?"
            " WHERE id = ? AND mailbox = ? AND status IN ('queued', 'failed')",
            (now, now, now, message_id, mailbox),
        )
        stored = self.get(message_id)
        return stored if stored is not None and stored.mailbox == mailbox else None

    def page(
        self,
        mailbox: str,
        *,
        statuses: tuple[str, ...],
        limit: int,
        before: tuple[float, str] | None = None,
        tag: str | None = None,
    ) -> list[StoredMessage]:
        """A mailbox's messages newest first (``before``: after this (created_at, id)).

        With a tag, the tag's index gives the order, so a page reads 50 rows of it however
        many messages the mailbox has.
        """
        source = "messages AS m"
        where = ["m.mailbox = ?"]
        params: list[Any] = [mailbox]
        order = ("m.created_at", "m.id")
        if tag is not None:
            source = "message_tags AS t JOIN messages AS m ON m.id = t.message_id"
            where = ["t.mailbox = ?", "t.tag = ?"]
            params = [mailbox, tag]
            order = ("t.created_at", "t.message_id")
        if statuses:
            where.append(f"m.status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if before is not None:
            where.append(f"({order[0]} < ? OR ({order[0]} = ? AND {order[1]} < ?))")
            params.extend((before[0], before[0], before[1]))
        with self._db.read() as tx:
            rows = tx.rows(
                f"SELECT m.* FROM {source} WHERE {' AND '.join(where)}"
                f" ORDER BY {order[0]} DESC, {order[1]} DESC LIMIT ?",
                (*params, limit),
            )
        return [stored_message(row, []) for row in rows]

    def depths(self) -> dict[str, int]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT mailbox, count(*) AS depth FROM messages"
                " WHERE status IN ('queued', 'sending') GROUP BY mailbox"
            )
        return {row["mailbox"]: int(row["depth"]) for row in rows}

    def stats(self, mailbox: str) -> QueueStats:
        with self._db.read() as tx:
            row = tx.row(
                "SELECT count(*) AS depth, min(created_at) AS oldest FROM messages"
                " WHERE mailbox = ? AND status IN ('queued', 'sending')",
                (mailbox,),
            )
        assert row is not None
        return QueueStats(int(row["depth"]), row["oldest"])
