"""Mailboxes' API keys, stored as SHA-256 digests (table ``api_keys``)."""

from __future__ import annotations

from mailer.storage.database import Database
from mailer.storage.records import KeyInfo


class ApiKeyTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, key_id: str, mailbox: str, key_hash: str, *, now: float) -> None:
        self._db.run(
            "INSERT INTO api_keys (id, mailbox, key_hash, created_at) VALUES (?, ?, ?, ?)",
            (key_id, mailbox, key_hash, now),
        )

    def mailbox_for(self, key_hash: str) -> str | None:
        with self._db.read() as tx:
            row = tx.row("SELECT mailbox FROM api_keys WHERE key_hash = ?", (key_hash,))
        return None if row is None else str(row["mailbox"])

    def delete(self, key_id: str, mailbox: str | None = None) -> bool:
        if mailbox is None:
            return self._db.run("DELETE FROM api_keys WHERE id = ?", (key_id,)) > 0
        sql = "DELETE FROM api_keys WHERE id = ? AND mailbox = ?"
        return self._db.run(sql, (key_id, mailbox)) > 0

    def of(self, mailbox: str) -> list[KeyInfo]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT id, created_at FROM api_keys WHERE mailbox = ? ORDER BY created_at, id",
                (mailbox,),
            )
        return [KeyInfo(row["id"], mailbox, row["created_at"]) for row in rows]
