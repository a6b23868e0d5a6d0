"""Calls made to Zoho Mail (table ``mail_calls``), throttle pauses and holds (``mail_pauses``),
and the answers of Zoho that no rule covers (``zoho_answers``)."""

from __future__ import annotations

import json
from collections.abc import Callable

from mailer.runtime import pacing
from mailer.runtime.pacing import RateLimit
from mailer.storage.database import Database, Row, Tx
from mailer.storage.records import Hold, MailPause, WebhookEvent, ZohoAnswer
from mailer.storage.tables.webhooks import insert_event

# How many answers without a rule each mailbox keeps for its admin.
ANSWERS_KEPT = 10


def pace_lock(mailbox: str) -> str:
    """The lock under which a mailbox's permits are checked and taken (PostgreSQL: on every
    host), until the transaction's commit."""
    return f"pace:{mailbox}"


def take_permits(
    tx: Tx, mailbox: str, calls: int, windows: tuple[RateLimit, ...], now: float
) -> None:
    """``calls`` permits taken at ``now``, which the caller found free in ``tx`` under
    ``pace_lock``; the calls that left every window are forgotten."""
    if not windows or calls <= 0:
        return
    tx.execute(
        "DELETE FROM mail_calls WHERE mailbox = ? AND at <= ?",
        (mailbox, now - pacing.longest(windows)),
    )
    tx.executemany("INSERT INTO mail_calls (mailbox, at) VALUES (?, ?)", [(mailbox, now)] * calls)


class LedgerTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take(
        self, mailbox: str, calls: int, windows: tuple[RateLimit, ...], *, now: float
    ) -> float:
        if not windows or calls <= 0:
            return 0.0
        # One writer per mailbox at a time, on every host: the check and the record are one.
        with self._db.write(serialize=pace_lock(mailbox)) as tx:
            wait = pacing.wait_seconds(_recent(tx, mailbox, windows, now), calls, windows, now)
            if wait > 0:
                return wait
            take_permits(tx, mailbox, calls, windows, now)
            return 0.0

    def used(self, mailbox: str, windows: tuple[RateLimit, ...], *, now: float) -> list[int]:
        """How many calls each window holds now, in the order of ``windows``."""
        if not windows:
            return []
        with self._db.read() as tx:
            recent = _recent(tx, mailbox, windows, now)
        return [sum(1 for at in recent if at > now - w.window_seconds) for w in windows]

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

    def settle(
        self, mailbox: str, *, resumed: Callable[[Hold], WebhookEvent | None]
    ) -> Hold | None:
        if self.pause(mailbox) is None:
            return None  # the common case, answered without a write transaction
        return self._clear(mailbox, resumed)

    def end_hold(
        self, mailbox: str, *, resumed: Callable[[Hold], WebhookEvent | None]
    ) -> Hold | None:
        return self._clear(mailbox, resumed)

    def note_unknown(
        self,
        mailbox: str,
        message_id: str,
        answer: ZohoAnswer,
        *,
        hold_after: int,
        blocks: bool,
        next_probe_at: float,
        held: Callable[[Hold], WebhookEvent | None],
    ) -> Hold | None:
        with self._db.write(serialize=f"hold:{mailbox}") as tx:
            tx.execute(
                "INSERT INTO zoho_answers (mailbox, at, call_name, http_status, code, description)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (mailbox, answer.at, answer.call, answer.http_status, answer.code,
                 answer.description),
            )  # fmt: skip
            tx.execute(
                "DELETE FROM zoho_answers WHERE mailbox = ? AND at < ("
                "SELECT min(at) FROM (SELECT at FROM zoho_answers WHERE mailbox = ?"
                " ORDER BY at DESC LIMIT ?) AS kept)",
                (mailbox, mailbox, ANSWERS_KEPT),
            )
            pause = _pause(tx, mailbox)
            streak = tuple(dict.fromkeys((*(pause.unknown_streak if pause else ()), message_id)))
            start = pause is None or pause.hold is None
            start = start and (blocks or len(streak) >= hold_after)
            hold = (
                Hold(
                    answer.at,
                    "account_blocked" if blocks else "unknown_answers",
                    answer,
                    next_probe_at,
                )
                if start
                else None
            )
            tx.execute(
                "INSERT INTO mail_pauses (mailbox, paused_until, throttles, unknown_streak)"
                " VALUES (?, 0, 0, ?) ON CONFLICT (mailbox) DO UPDATE"
                " SET unknown_streak = excluded.unknown_streak",
                (mailbox, json.dumps(streak)),
            )
            if hold is not None:
                tx.execute(
                    "UPDATE mail_pauses SET held_since = ?, hold_reason = ?, hold_answer = ?,"
                    " next_probe_at = ? WHERE mailbox = ?",
                    (hold.since, hold.reason, _answer_json(answer), hold.next_probe_at, mailbox),
                )
                event = held(hold)
                if event is not None:
                    insert_event(tx, event)
            return hold

    def claim_probe(self, mailbox: str, *, now: float, next_probe_at: float) -> bool:
        return (
            self._db.run(
                "UPDATE mail_pauses SET next_probe_at = ?"
                " WHERE mailbox = ? AND held_since IS NOT NULL AND next_probe_at <= ?",
                (next_probe_at, mailbox, now),
            )
            == 1
        )

    def probes_due(self, *, now: float) -> list[str]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT mailbox FROM mail_pauses"
                " WHERE held_since IS NOT NULL AND next_probe_at <= ?",
                (now,),
            )
        return [row["mailbox"] for row in rows]

    def holds(self) -> dict[str, Hold]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM mail_pauses WHERE held_since IS NOT NULL")
        return {row["mailbox"]: hold for row in rows if (hold := _hold(row)) is not None}

    def answers(self, mailbox: str) -> list[ZohoAnswer]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT * FROM zoho_answers WHERE mailbox = ? ORDER BY at DESC LIMIT ?",
                (mailbox, ANSWERS_KEPT),
            )
        return [
            ZohoAnswer(r["at"], r["call_name"], r["http_status"], r["code"], r["description"])
            for r in rows
        ]

    def _clear(self, mailbox: str, resumed: Callable[[Hold], WebhookEvent | None]) -> Hold | None:
        with self._db.write(serialize=f"hold:{mailbox}") as tx:
            pause = _pause(tx, mailbox)
            if pause is None:
                return None
            tx.execute("DELETE FROM mail_pauses WHERE mailbox = ?", (mailbox,))
            if pause.hold is not None:
                event = resumed(pause.hold)
                if event is not None:
                    insert_event(tx, event)
            return pause.hold


def _recent(tx: Tx, mailbox: str, windows: tuple[RateLimit, ...], now: float) -> list[float]:
    rows = tx.rows(
        "SELECT at FROM mail_calls WHERE mailbox = ? AND at > ? ORDER BY at",
        (mailbox, now - pacing.longest(windows)),
    )
    return [row["at"] for row in rows]


def _pause(tx: Tx, mailbox: str) -> MailPause | None:
    row = tx.row("SELECT * FROM mail_pauses WHERE mailbox = ?", (mailbox,))
    if row is None:
        return None
    streak = tuple(json.loads(row["unknown_streak"])) if row["unknown_streak"] else ()
    return MailPause(row["paused_until"], row["throttles"], _hold(row), streak)


def _hold(row: Row) -> Hold | None:
    if row["held_since"] is None:
        return None
    answer = json.loads(row["hold_answer"]) if row["hold_answer"] else None
    return Hold(
        row["held_since"],
        row["hold_reason"],
        None if answer is None else ZohoAnswer(**answer),
        row["next_probe_at"],
    )


def _answer_json(answer: ZohoAnswer) -> str:
    return json.dumps(
        {
            "at": answer.at,
            "call": answer.call,
            "http_status": answer.http_status,
            "code": answer.code,
            "description": answer.description,
        }
    )
