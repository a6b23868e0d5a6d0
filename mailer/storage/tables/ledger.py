"""Calls made to Zoho Mail (table ``mail_calls``) and throttle pauses (``mail_pauses``)."""

from __future__ import annotations

from mailer.runtime import pacing
from mailer.runtime.pacing import RateLimit
from mailer.storage.database import Database, Tx
from mailer.storage.records import MailPause


class LedgerTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take(
        self, mailbox: str, calls: int, windows: tuple[RateLimit, ...], *, now: float
    ) -> float:
        if not windows or calls <= 0:
            return 0.0
        # One writer per mailbox at a time, on every host: the check and the record are one.
        with self._db.write(serialize=f"pace:{mailbox}") as tx:
            tx.execute(
                "DELETE FROM mail_calls WHERE mailbox = ? AND at <= ?",
                (mailbox, now - pacing.longest(windows)),
            )
            wait = pacing.wait_seconds(_recent(tx, mailbox, windows, now), calls, windows, now)
            if wait > 0:
                return wait
            tx.executemany(
                "INSERT INTO mail_calls (mailbox, at) VALUES (?, ?)",
                [(mailbox, now)] * calls,
            )
            return 0.0

    def wait(
        self, mailbox: str, calls: int, windows: tuple[RateLimit, ...], *, now: float
    ) -> float:
        # One statement for the pause and the recent calls: on the hot path of every send.
        since = now - pacing.longest(windows) if windows and calls > 0 else now + 1
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT p.paused_until, c.at FROM (SELECT 1 AS one) AS o"
                " LEFT JOIN mail_pauses p ON p.mailbox = ?"
                " LEFT JOIN mail_calls c ON c.mailbox = ? AND c.at > ? ORDER BY c.at",
                (mailbox, mailbox, since),
            )
        paused_until = rows[0]["paused_until"]
        paused = 0.0 if paused_until is None else max(0.0, paused_until - now)
        recent = [row["at"] for row in rows if row["at"] is not None]
        paced = pacing.wait_seconds(recent, calls, windows, now) if windows and calls > 0 else 0.0
        return max(paused, paced)

    def pause(self, mailbox: str) -> MailPause | None:
        with self._db.read() as tx:
            return _pause(tx, mailbox)

    def set_pause(self, mailbox: str, *, paused_until: float, throttles: int) -> None:
        self._db.run(
            "INSERT INTO mail_pauses (mailbox, paused_until, throttles) VALUES (?, ?, ?)"
            " ON CONFLICT (mailbox) DO UPDATE"
            " SET paused_until = excluded.paused_until, throttles = excluded.throttles",
            (mailbox, paused_until, throttles),
        )

    def clear_pause(self, mailbox: str) -> None:
        if self.pause(mailbox) is None:
            return  # the common case, answered without a write transaction
        self._db.run("DELETE FROM mail_pauses WHERE mailbox = ?", (mailbox,))


def _recent(tx: Tx, mailbox: str, windows: tuple[RateLimit, ...], now: float) -> list[float]:
    rows = tx.rows(
        "SELECT at FROM mail_calls WHERE mailbox = ? AND at > ? ORDER BY at",
        (mailbox, now - pacing.longest(windows)),
    )
    return [row["at"] for row in rows]


def _pause(tx: Tx, mailbox: str) -> MailPause | None:
    row = tx.row("SELECT paused_until, throttles FROM mail_pauses WHERE mailbox = ?", (mailbox,))
    return None if row is None else MailPause(row["paused_until"], row["throttles"])
