"""Accepting a message: one statement that inserts it when nothing refuses it
(``accept_statement.py``); else one read for the pace, the pause and the back-pressure, which
tells why, then the insert if that read finds it clear after all.

The read is the one an accept always made (the mailbox's pause and its recent calls to Zoho),
with the back-pressure folded in as scalar subqueries that each touch a few index entries:

- accept limits: each mailbox numbers its messages (``seq``), so "N in a window" is the time of
  the N-th newest, one look-up by (mailbox, seq), never a count;
- the queue cap: one row, kept by triggers on every change of a message's status;
- the repeat guard: the newest few messages with the same digest.

The statement (and the read, when it runs) and the insert run in one transaction of the
process's group commit (``group_commit.py``), which holds the mailbox's turn to accept (SQLite's
write lock; on PostgreSQL an advisory lock per mailbox, across hosts, and one per
Idempotency-Key): the read stays true until the commit, and the number is unique per mailbox
(its index would refuse a second one anyway). A request's Idempotency-Key is claimed in that
transaction, beside its message (``idempotency.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mailer.runtime import pacing
from mailer.runtime.pacing import RateLimit
from mailer.storage.admission_records import AcceptGate, Admission, NewMessage
from mailer.storage.database import Database, Row, Tx
from mailer.storage.group_commit import GroupCommit
from mailer.storage.tables.accept_statement import insert_if_clear
from mailer.storage.tables.idempotency import keep_in, live_in, lock_name
from mailer.storage.tables.ledger import pace_lock, take_permits
from mailer.storage.tables.message_rows import insert_message, insert_parts, new_message

# How long a full queue asks a client to wait (a message leaves it at the pace).
QUEUE_FULL_RETRY_SECONDS = 60.0


class AdmissionTable:
    def __init__(self, db: Database, group: GroupCommit) -> None:
        self._db = db
        self._group = group

    def admit(
        self,
        new: NewMessage,
        *,
        now: float,
        windows: tuple[RateLimit, ...],
        gate: AcceptGate,
        lease_owner: str | None,
        leased_until: float,
    ) -> Admission:
        """Store the message unless the gate refuses it; leased to ``lease_owner`` for an
        attempt now when the pace and the pause allow one. Answers after the commit.

        One statement when nothing refuses (``accept_statement.py``); when it stores nothing,
        the read below tells why, in the same transaction."""
        queued = new_message(new, now=now, leased_until=None)
        insert = insert_if_clear(
            new,
            queued,
            now=now,
            windows=windows,
            gate=gate,
            lease_owner=lease_owner,
            leased_until=leased_until,
        )

        def store_if_clear(tx: Tx) -> Admission:
            inserted = tx.rows(*insert)
            if not inserted:
                return decide_and_store(tx)
            insert_parts(tx, queued, new.tags)
            if inserted[0]["lease_owner"] is None:
                return _with_claim(tx, new, Admission(queued))
            stored = new_message(new, now=now, leased_until=leased_until)
            take_permits(tx, new.mailbox, new.calls, windows, now)
            return _with_claim(tx, new, Admission(stored, inline=True))

        def decide_and_store(tx: Tx) -> Admission:
            if new.claim is not None:
                replay = live_in(tx, new.claim.key, now=now)
                if replay is not None:
                    return Admission(None, replay=replay)
            refused, paced, last_seq = decide(tx, new, now=now, windows=windows, gate=gate)
            if paced is None:
                return refused
            owner = lease_owner if paced else None
            stored = new_message(new, now=now, leased_until=leased_until if owner else None)
            seq = last_seq + 1  # the mailbox's accepts take turns: no race
            insert_message(tx, stored, owner, tags=new.tags, seq=seq, digest=new.digest)
            if owner is not None:
                take_permits(tx, new.mailbox, new.calls, windows, now)
            return _with_claim(tx, new, Admission(stored, inline=owner is not None))

        locks = [f"accept:{new.mailbox}"]
        if lease_owner is not None:
            locks.append(pace_lock(new.mailbox))  # its permits are taken here
        if new.claim is not None:
            locks.append(lock_name(new.claim.key))
        return self._group.run(store_if_clear, serialize=tuple(locks))

    def refusals(self, mailbox: str, *, since: float) -> dict[str, int]:
        """How many sends the mailbox refused since ``since``, by reason."""
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT reason, sum(count) AS n FROM accept_refusals WHERE mailbox = ? AND at >= ?"
                " GROUP BY reason",
                (mailbox, since),
            )
        return {row["reason"]: int(row["n"]) for row in rows}

    def note_refusal(self, mailbox: str, reason: str, *, now: float, count: int) -> None:
        """Keep ``count`` refusals for the mailbox's view (a day)."""
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO accept_refusals (mailbox, reason, at, count) VALUES (?, ?, ?, ?)",
                (mailbox, reason, now, count),
            )
            tx.execute("DELETE FROM accept_refusals WHERE at < ?", (now - 86400,))


def _with_claim(tx: Tx, new: NewMessage, admission: Admission) -> Admission:
    """The stored message's Idempotency-Key kept beside it: answered now when the message is
    queued or scheduled, in flight while an attempt is to tell."""
    claim = new.claim
    if claim is None or admission.stored is None:
        return admission
    answer = None if admission.inline else claim.answer(new.id, new.send_at is not None)
    keep_in(
        tx,
        claim.key,
        claim.fingerprint,
        leased_until=claim.leased_until,
        expires_at=claim.expires_at,
        answer=answer,
    )
    return replace(admission, answered=answer is not None)


def decide(
    tx: Tx, new: NewMessage, *, now: float, windows: tuple[RateLimit, ...], gate: AcceptGate
) -> tuple[Admission, bool | None, int]:
    """What the gate says of ``new`` now, read in ``tx``: refused (or stale) with no lease
    decision, or None refused and whether an attempt may start now; and the mailbox's last
    number."""
    sql, params = _read(new, windows, gate, now)
    found = tx.rows(sql, params)
    last_seq = int(found[0]["last_seq"] or 0)
    checked = new.mailbox_generation
    if checked is not None and found[0]["generation"] != checked:
        return Admission(None, stale=True), None, last_seq
    refused, paced = _decide(found, new.calls, windows, gate, now, new.send_at)
    return refused, paced, last_seq


def _read(
    new: NewMessage, windows: tuple[RateLimit, ...], gate: AcceptGate, now: float
) -> tuple[str, list[Any]]:
    """The one statement an accept reads: pause, recent calls, suppressed recipients, and the
    gate's figures."""
    mailbox, calls, digest = new.mailbox, new.calls, new.digest or ""
    marks = ", ".join("?" for _ in new.recipients) or "NULL"
    columns = [
        "(SELECT max(seq) FROM messages WHERE mailbox = ?) AS last_seq",
        f"(SELECT count(*) FROM suppressions WHERE mailbox = ? AND address IN ({marks}))"
        " AS suppressed",
    ]
    params: list[Any] = [mailbox, mailbox, *new.recipients]
    if new.mailbox_generation is not None:
        columns.append("(SELECT generation FROM mailboxes WHERE name = ?) AS generation")
        params.append(mailbox)
    for i, limit in enumerate(gate.limits):
        columns.append(
            f"(SELECT created_at FROM messages WHERE mailbox = ? AND seq = "
            f"(SELECT max(seq) FROM messages WHERE mailbox = ?) - ?) AS edge_{i}"
        )
        params += [mailbox, mailbox, limit.count - 1]
    if gate.max_queued is not None:
        # Kept by triggers on every change of a message's status (migration 0009).
        columns.append("(SELECT waiting FROM mailbox_waiting WHERE mailbox = ?) AS queued")
        params.append(mailbox)
    for i, limit in enumerate(gate.repeats):
        recent = (
            "(SELECT created_at FROM messages WHERE mailbox = ? AND digest = ? AND created_at > ?"
            " ORDER BY created_at DESC LIMIT ?) AS r"
        )
        columns.append(f"(SELECT count(*) FROM {recent}) AS repeats_{i}")
        columns.append(f"(SELECT min(created_at) FROM {recent}) AS repeat_oldest_{i}")
        for _ in range(2):
            params += [mailbox, digest, now - limit.window_seconds, limit.count]
    since = now - pacing.longest(windows) if windows and calls > 0 else now + 1
    sql = (
        f"SELECT p.paused_until, p.held_since, c.at, o.* FROM (SELECT {', '.join(columns)}) AS o"
        " LEFT JOIN mail_pauses p ON p.mailbox = ?"
        " LEFT JOIN mail_calls c ON c.mailbox = ? AND c.at > ? ORDER BY c.at"
    )
    return sql, [*params, mailbox, mailbox, since]


def _decide(
    found: Sequence[Row],
    calls: int,
    windows: tuple[RateLimit, ...],
    gate: AcceptGate,
    now: float,
    send_at: float | None,
) -> tuple[Admission, bool | None]:
    """Refused (and why, and for how long), or whether to lease it for an attempt now."""
    first = found[0]
    if first["suppressed"]:
        return Admission(None, refusal="recipient_suppressed"), None
    waits = {
        "rate_limited": max(
            (
                first[f"edge_{i}"] + limit.window_seconds - now
                for i, limit in enumerate(gate.limits)
                if first[f"edge_{i}"] is not None
                and first[f"edge_{i}"] + limit.window_seconds > now
            ),
            default=0.0,
        ),
        "queue_full": QUEUE_FULL_RETRY_SECONDS
        if gate.max_queued is not None and (first["queued"] or 0) >= gate.max_queued
        else 0.0,
        "repeated_message": max(
            (
                first[f"repeat_oldest_{i}"] + limit.window_seconds - now
                for i, limit in enumerate(gate.repeats)
                if first[f"repeats_{i}"] >= limit.count
            ),
            default=0.0,
        ),
    }
    for reason, wait in waits.items():
        if wait > 0:
            return Admission(None, refusal=reason, retry_after_seconds=wait), None
    return Admission(None), _pace_wait(found, calls, windows, now) == 0.0 and send_at is None


def _pace_wait(
    found: Sequence[Row], calls: int, windows: tuple[RateLimit, ...], now: float
) -> float:
    """How long ``calls`` calls would wait now: the pause, a hold, the pace."""
    first = found[0]
    if first["held_since"] is not None:
        return float("inf")
    paused = 0.0 if first["paused_until"] is None else max(0.0, first["paused_until"] - now)
    recent = [row["at"] for row in found if row["at"] is not None]
    paced = pacing.wait_seconds(recent, calls, windows, now) if windows and calls > 0 else 0.0
    return max(paused, paced)
