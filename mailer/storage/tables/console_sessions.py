"""The admin console's signed-in sessions (table ``console_sessions``)."""

from __future__ import annotations

from mailer.storage.database import Database


class ConsoleSessionTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self, id_hash: str, *, now: float, expires_at: float) -> None:
        with self._db.write() as tx:
            tx.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
            tx.execute(
                "INSERT INTO console_sessions (id_hash, created_at, expires_at) VALUES (?, ?, ?)",
                (id_hash, now, expires_at),
            )

    def valid(self, id_hash: str, *, now: float) -> bool:
        with self._db.read() as tx:
            row = tx.row(
                "SELECT 1 AS found FROM console_sessions WHERE id_hash = ? AND expires_at > ?",
                (id_hash, now),
            )
        return row is not None

    def close(self, id_hash: str) -> None:
        self._db.run("DELETE FROM console_sessions WHERE id_hash = ?", (id_hash,))
