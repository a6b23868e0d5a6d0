"""Each mailbox's suppression list (table ``suppressions``)."""

from __future__ import annotations

from collections.abc import Sequence

from mailer.storage.database import Database
from mailer.storage.records import Suppression


class SuppressionTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, mailbox: str) -> list[Suppression]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT address, reason, created_at, message_id FROM suppressions"
                " WHERE mailbox = ? ORDER BY created_at DESC, address",
                (mailbox,),
            )
        return [
            Suppression(r["address"], r["reason"], r["created_at"], r["message_id"]) for r in rows
        ]

    def add(
        self,
        mailbox: str,
        address: str,
        *,
        reason: str,
        now: float,
        message_id: str | None = None,
    ) -> bool:
        return (
            self._db.run(
                "INSERT INTO suppressions (mailbox, address, reason, created_at, message_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, address) DO NOTHING",
                (mailbox, address, reason, now, message_id),
            )
            == 1
        )

    def remove(self, mailbox: str, address: str) -> bool:
        return (
            self._db.run(
                "DELETE FROM suppressions WHERE mailbox = ? AND address = ?", (mailbox, address)
            )
            == 1
        )

    def suppressed(self, mailbox: str, addresses: Sequence[str]) -> list[str]:
        if not addresses:
            return []
        marks = ", ".join("?" for _ in addresses)
        with self._db.read() as tx:
            rows = tx.rows(
                f"SELECT address FROM suppressions WHERE mailbox = ? AND address IN ({marks})"
                " ORDER BY address",
                (mailbox, *addresses),
            )
        return [row["address"] for row in rows]
