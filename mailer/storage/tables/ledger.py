"""Calls made to Zoho Mail (table ``mail_calls``) and throttle pauses (``mail_pauses``)."""

from __future__ import annotations

from mailer import pacing
from mailer.pacing import Window
from mailer.storage.database import Database, Tx
from mailer.storage.records import MailPause


class LedgerTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take(self, mailbox: str, calls: int, windows: tuple[Window, ...], *, now: float) -> float:
        if not windows or calls <= 0:
            return 0.0
        # One writer per mailbox at a time, on every host: the check and the record are one.
        with self._db.write(serialize=f"pace:{mailbox}") as tx:
            tx.execute(
                "DELETE FROM mail_calls WHERE connection_id = ? AND at <= ?",
                (mailbox, now - pacing.longest(windows)),
            )
            wait = pacing.wait_seconds(_recent(tx, mailbox, windows, now), calls, windows, now)
            if wait > 0:
                return wait
            tx.executemany(
                "INSERT INTO mail_calls (connection_id, at) VALUES (?, ?)",
                [(mailbox, now)] * calls,
            )
            return 0.0

    def wait(self, mailbox: str, calls: int, windows: tuple[Window, ...], *, now: float) -> float:
        if not windows or calls <= 0:
            return 0.0
        with self._db.read() as tx:
            recent = _recent(tx, mailbox, windows, now)
        return pacing.wait_seconds(recent, calls, windows, now)

    def pause(self, mailbox: str) -> MailPause | None:
        with self._db.read() as tx:
            row = tx.row(
                "SELECT paused_until, throttles FROM mail_pauses WHERE connection_id = ?",
                (mailbox,),
            )
        return None if row is None else MailPause(row["paused_until"], row["throttles"])

    def set_pause(self, mailbox: str, *, paused_until: float, throttles: int) -> None:
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO mail_pauses (connection_id, paused_until, throttles) VALUES (?, ?, ?)"
                " ON CONFLICT (connection_id) DO UPDATE"
                " SET paused_until = excluded.paused_until, throttles = excluded.throttles",
                (mailbox, paused_until, throttles),
            )

    def clear_pause(self, mailbox: str) -> None:
        if self.pause(mailbox) is None:
            return  # the common case, answered without a write transaction
        with self._db.write() as tx:
            tx.execute("DELETE FROM mail_pauses WHERE connection_id = ?", (mailbox,))


def _recent(tx: Tx, mailbox: str, windows: tuple[Window, ...], now: float) -> list[float]:
    rows = tx.rows(
        "SELECT at FROM mail_calls WHERE connection_id = ? AND at > ? ORDER BY at",
        (mailbox, now - pacing.longest(windows)),
    )
    return [row["at"] for row in rows]
