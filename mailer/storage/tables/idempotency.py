"""Idempotency records (table ``idempotency``).

A send with a key claims it in the transaction that stores its message: the accept's statement
stores nothing while the key is live (``LIVE``), and the claim is kept beside the message
(``keep_in``), with its answer when the message is only queued. An answer that waits for Zoho
is stored afterwards (``complete``)."""

from __future__ import annotations

import json
from typing import Any

from mailer.storage.admission_records import IdempotencyRecord
from mailer.storage.database import Database, Tx

# A key is live while it has not expired and its request either answered or is in flight;
# a record whose answer never came and whose lease ran out (its worker died) is taken over.
# Parameters: the key, now, now.
LIVE = "key = ? AND expires_at > ? AND (status IS NOT NULL OR leased_until > ?)"


class IdempotencyTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(
        self, key: str, fingerprint: str, *, now: float, leased_until: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """What an earlier request left under ``key``, or None: the key is now this request's,
        in flight until ``leased_until``. (A send claims its key with its message instead.)"""
        with self._db.write(serialize=lock_name(key)) as tx:
            found = live_in(tx, key, now=now)
            if found is None:
                keep_in(tx, key, fingerprint, leased_until=leased_until, expires_at=expires_at)
            return found

    def complete(self, key: str, status: int, answer: dict[str, Any]) -> None:
        self._db.run(
            "UPDATE idempotency SET status = ?, answer = ? WHERE key = ?",
            (status, json.dumps(answer), key),
        )


def lock_name(key: str) -> str:
    """The lock a claim of ``key`` holds (PostgreSQL: on every host) until its commit."""
    return f"idempotency:{key}"


def live_in(tx: Tx, key: str, *, now: float) -> IdempotencyRecord | None:
    """What an earlier request left under ``key`` while it is live (in flight, or answered)."""
    row = tx.row(
        f"SELECT fingerprint, status, answer, leased_until FROM idempotency WHERE {LIVE}",
        (key, now, now),
    )
    if row is None:
        return None
    answer = None if row["answer"] is None else json.loads(row["answer"])
    return IdempotencyRecord(row["fingerprint"], row["status"], answer, row["leased_until"])


def keep_in(
    tx: Tx,
    key: str,
    fingerprint: str,
    *,
    leased_until: float,
    expires_at: float,
    answer: tuple[int, dict[str, Any]] | None = None,
) -> None:
    """The key is this request's (over any record that is no longer live): in flight, or
    with ``answer`` (status, body)."""
    status, body = answer if answer is not None else (None, None)
    tx.execute(
        "INSERT INTO idempotency (key, fingerprint, leased_until, expires_at, status, answer)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " fingerprint = excluded.fingerprint, leased_until = excluded.leased_until,"
        " expires_at = excluded.expires_at, status = excluded.status, answer = excluded.answer",
        (
            key,
            fingerprint,
            leased_until,
            expires_at,
            status,
            None if body is None else json.dumps(body),
        ),
    )
