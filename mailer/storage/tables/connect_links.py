"""Single-use connect links, stored as SHA-256 digests (table ``connect_links``)."""

from __future__ import annotations

from mailer.storage.database import Database
from mailer.storage.records import ConnectLink


class ConnectLinkTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, token_hash: str, mailbox: str, *, expires_at: float) -> None:
        self._db.run(
            "INSERT INTO connect_links (token_hash, mailbox, expires_at) VALUES (?, ?, ?)",
            (token_hash, mailbox, expires_at),
        )

    def take(self, token_hash: str, *, now: float) -> ConnectLink | None:
        """Look a link up and, when it is unused and unexpired, mark it used (once)."""
        with self._db.write(serialize=f"connect-link:{token_hash}") as tx:
            row = tx.row(
                "SELECT mailbox, expires_at, used_at FROM connect_links WHERE token_hash = ?",
                (token_hash,),
            )
            if row is None:
                return None
            if row["used_at"] is None and row["expires_at"] > now:
                tx.execute(
                    "UPDATE connect_links SET used_at = ? WHERE token_hash = ?", (now, token_hash)
                )
            return ConnectLink(row["mailbox"], row["expires_at"], row["used_at"])
