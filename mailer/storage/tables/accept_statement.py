"""An accept in one statement: the message inserted only when no gate refuses it, and leased
for an attempt now only when the pause, the hold and the pace allow one.

Every condition is the one ``admission.py`` decides in Python after its read, written in SQL
so that the check and the insert are one round trip:

- the mailbox's row is still the generation the message was checked against;
- no recipient is suppressed;
- the request's Idempotency-Key, if any, is not live (in flight, or answered);
- each accept limit's edge (the time of the N-th newest message, by the mailbox's numbering)
  is outside its window;
- the queue is under its cap;
- the same message was not accepted too often in each repeat window.

The insert happens only when all hold, so a statement that inserts nothing says "one of them
refused, or the row changed": the caller then reads which (``admission.py``), in the same
transaction. The statement is never more permissive than that read: each condition here is
the read's own comparison, on the same values.
"""

from __future__ import annotations

from typing import Any

from mailer.runtime.pacing import RateLimit
from mailer.storage.admission_records import AcceptGate, NewMessage
from mailer.storage.records import StoredMessage
from mailer.storage.tables.idempotency import LIVE
from mailer.storage.tables.message_rows import COLUMNS, insert_row

_SEQ, _STATUS = COLUMNS.index("seq"), COLUMNS.index("status")
_LEASE_OWNER, _LEASED_UNTIL = COLUMNS.index("lease_owner"), COLUMNS.index("leased_until")


def insert_if_clear(
    new: NewMessage,
    queued: StoredMessage,
    *,
    now: float,
    windows: tuple[RateLimit, ...],
    gate: AcceptGate,
    lease_owner: str | None,
    leased_until: float,
) -> tuple[str, list[Any]]:
    """The statement and its parameters: ``queued`` (the message as queued or scheduled)
    inserted when clear, as 'sending' and leased to ``lease_owner`` until ``leased_until``
    when an attempt may start now; it returns the row's ``lease_owner``, and no row when
    anything refused."""
    mailbox = new.mailbox
    clear: list[str] = []
    params: list[Any] = []
    if new.mailbox_generation is not None:
        clear.append("(SELECT generation FROM mailboxes WHERE name = ?) = ?")
        params += [mailbox, new.mailbox_generation]
    if new.recipients:
        marks = ", ".join("?" for _ in new.recipients)
        clear.append(
            f"NOT EXISTS (SELECT 1 FROM suppressions WHERE mailbox = ? AND address IN ({marks}))"
        )
        params += [mailbox, *new.recipients]
    if new.claim is not None:
        clear.append(f"NOT EXISTS (SELECT 1 FROM idempotency WHERE {LIVE})")
        params += [new.claim.key, now, now]
    for limit in gate.limits:
        clear.append(
            "NOT EXISTS (SELECT 1 FROM messages WHERE mailbox = ? AND seq = "
            "(SELECT max(seq) FROM messages WHERE mailbox = ?) - ? AND created_at + ? > ?)"
        )
        params += [mailbox, mailbox, limit.count - 1, limit.window_seconds, now]
    if gate.max_queued is not None:
        clear.append("coalesce((SELECT waiting FROM mailbox_waiting WHERE mailbox = ?), 0) < ?")
        params += [mailbox, gate.max_queued]
    for limit in gate.repeats:
        clear.append(
            "(SELECT count(*) FROM (SELECT 1 FROM messages WHERE mailbox = ? AND digest = ?"
            " AND created_at > ? LIMIT ?) AS r) < ?"
        )
        params += [mailbox, new.digest or "", now - limit.window_seconds, limit.count, limit.count]

    select, row = _values(
        new, queued, now=now, windows=windows, lease_owner=lease_owner, leased_until=leased_until
    )
    sql = (
        f"INSERT INTO messages ({', '.join(COLUMNS)}) {select}"
        f" WHERE {' AND '.join(clear) or '1 = 1'} RETURNING lease_owner"
    )
    return sql, [*row, *params]


def _values(
    new: NewMessage,
    queued: StoredMessage,
    *,
    now: float,
    windows: tuple[RateLimit, ...],
    lease_owner: str | None,
    leased_until: float,
) -> tuple[str, list[Any]]:
    """The select list of the insert, in ``COLUMNS`` order, and its parameters: ``queued``'s
    row, or leased when ``lease_owner`` is given and an attempt may start now (``g.go``). The
    seq is the mailbox's next number: its accepts take turns, so it cannot race."""
    row = list(insert_row(queued, None, None, new.digest))
    marks = ["?"] * len(COLUMNS)
    marks[_SEQ] = "(SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE mailbox = ?)"
    row[_SEQ] = new.mailbox
    if lease_owner is None or new.send_at is not None:
        return f"SELECT {', '.join(marks)}", row
    leased = {_STATUS: "sending", _LEASE_OWNER: lease_owner}
    params: list[Any] = []
    for index, value in enumerate(row):
        if index in leased:
            marks[index] = "CASE WHEN g.go THEN ? ELSE ? END"
            params += [leased[index], value]
        elif index == _LEASED_UNTIL:
            marks[index] = "CASE WHEN g.go THEN ? END"
            params.append(leased_until)
        else:
            params.append(value)
    go, go_params = _attempt_now(new.mailbox, new.calls, windows, now)
    return f"SELECT {', '.join(marks)} FROM (SELECT {go} AS go) AS g", [*params, *go_params]


def _attempt_now(
    mailbox: str, calls: int, windows: tuple[RateLimit, ...], now: float
) -> tuple[str, list[Any]]:
    """Whether an attempt may start now: no pause, no hold, and ``calls`` more calls fit
    every pacing window (``pacing.wait_seconds`` is 0.0)."""
    conditions = [
        "NOT EXISTS (SELECT 1 FROM mail_pauses WHERE mailbox = ?"
        " AND (held_since IS NOT NULL OR paused_until > ?))"
    ]
    params: list[Any] = [mailbox, now]
    for window in windows if calls > 0 else ():
        conditions.append("(SELECT count(*) FROM mail_calls WHERE mailbox = ? AND at > ?) <= ?")
        params += [mailbox, now - window.window_seconds, window.count - min(calls, window.count)]
    return f"({' AND '.join(conditions)})", params
