"""Webhook events waiting to be delivered (table ``webhook_events``)."""

from __future__ import annotations

from mailer.storage.database import Database, Tx
from mailer.storage.records import WebhookEvent

_PENDING = "delivered_at IS NULL AND given_up_at IS NULL"


def insert_event(tx: Tx, event: WebhookEvent) -> None:
    """Store an event inside the transaction of the change that causes it."""
    tx.execute(
        "INSERT INTO webhook_events (id, type, body, created_at, next_attempt_at, message_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event.id, event.type, event.body, event.created_at, event.created_at, event.message_id),
    )


class WebhookTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim_due(self, *, now: float, leased_until: float, limit: int) -> list[WebhookEvent]:
        condition = (
            f"{_PENDING} AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?)"
        )
        with self._db.read() as tx:
            if (
                tx.row(f"SELECT id FROM webhook_events WHERE {condition} LIMIT 1", (now, now))
                is None
            ):
                return []
        with self._db.write() as tx:
            rows = tx.rows(
                f"SELECT * FROM webhook_events WHERE {condition}"
                f" ORDER BY next_attempt_at LIMIT ?{self._db.claim_suffix}",
                (now, now, limit),
            )
            for row in rows:
                tx.execute(
                    "UPDATE webhook_events SET leased_until = ? WHERE id = ?",
                    (leased_until, row["id"]),
                )
        return [
            WebhookEvent(r["id"], r["type"], r["body"], r["created_at"], r["attempts"])
            for r in rows
        ]

    def delivered(self, event_id: str, *, attempts: int, now: float) -> None:
        self._db.run(
            "UPDATE webhook_events SET delivered_at = ?, attempts = ?, leased_until = NULL"
            " WHERE id = ?",
            (now, attempts, event_id),
        )

    def retry(
        self, event_id: str, *, attempts: int, next_attempt_at: float, error: str, now: float
    ) -> None:
        self._db.run(
            "UPDATE webhook_events SET attempts = ?, next_attempt_at = ?, last_error = ?,"
            " leased_until = NULL WHERE id = ?",
            (attempts, next_attempt_at, error, event_id),
        )

    def give_up(self, event_id: str, *, attempts: int, error: str, now: float) -> None:
        self._db.run(
            "UPDATE webhook_events SET attempts = ?, given_up_at = ?, last_error = ?,"
            " leased_until = NULL WHERE id = ?",
            (attempts, now, error, event_id),
        )

    def pending(self) -> int:
        with self._db.read() as tx:
            row = tx.row(f"SELECT count(*) AS n FROM webhook_events WHERE {_PENDING}")
        return 0 if row is None else int(row["n"])
