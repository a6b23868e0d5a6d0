"""Consent flows in progress (table ``oauth_states``)."""

from __future__ import annotations

from mailer.storage.database import Database
from mailer.storage.records import OAuthState


class OAuthStateTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        state_hash: str,
        browser_hash: str,
        expires_at: float,
        now: float,
        *,
        mailbox: str = "default",
        via_link: bool = False,
    ) -> None:
        self._db.run(
            "INSERT INTO oauth_states (state_hash, browser_hash, expires_at, mailbox, via_link)"
            " VALUES (?, ?, ?, ?, ?)",
            (state_hash, browser_hash, expires_at, mailbox, int(via_link)),
        )

    def take(self, state_hash: str, browser_hash: str, now: float) -> OAuthState | None:
        with self._db.write(serialize=f"oauth-state:{state_hash}") as tx:
            row = tx.row(
                "SELECT browser_hash, expires_at, used_at, connected_address, mailbox, via_link"
                " FROM oauth_states"
                " WHERE state_hash = ?",
                (state_hash,),
            )
            if row is None:
                return None
            if row["browser_hash"] == browser_hash and row["used_at"] is None:
                tx.execute(
                    "UPDATE oauth_states SET used_at = ? WHERE state_hash = ?", (now, state_hash)
                )
            return OAuthState(
                row["browser_hash"],
                row["expires_at"],
                row["used_at"],
                row["connected_address"],
                row["mailbox"],
                bool(row["via_link"]),
            )

    def mark_connected(self, state_hash: str, address: str) -> None:
        self._db.run(
            "UPDATE oauth_states SET connected_address = ? WHERE state_hash = ?",
            (address, state_hash),
        )
