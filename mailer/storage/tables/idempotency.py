"""Idempotency records (table ``idempotency``)."""

from __future__ import annotations

import json
from typing import Any

from mailer.storage.database import Database
from mailer.storage.records import IdempotencyRecord


class IdempotencyTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(
        self, key: str, fingerprint: str, *, now: float, leased_until: float, expires_at: float
    ) -> IdempotencyRecord | None:
        # A record whose answer never came and whose lease ran out (its worker died) is taken
        # over; an expired one is forgotten.
        with self._db.write(serialize=f"idempotency:{key}") as tx:
            row = tx.row(
                "SELECT fingerprint, status, answer, leased_until, expires_at FROM idempotency"
                " WHERE key = ?",
                (key,),
            )
            live = row is not None and row["expires_at"] > now
            if (
                row is not None
                and live
                and (row["status"] is not None or row["leased_until"] > now)
            ):
                answer = None if row["answer"] is None else json.loads(row["answer"])
                return IdempotencyRecord(
                    row["fingerprint"], row["status"], answer, row["leased_until"]
                )
            tx.execute("DELETE FROM idempotency WHERE key = ?", (key,))
            tx.execute(
                "INSERT INTO idempotency (key, fingerprint, leased_until, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (key, fingerprint, leased_until, expires_at),
            )
            return None

    def complete(self, key: str, status: int, answer: dict[str, Any]) -> None:
        self._db.run(
            "UPDATE idempotency SET status = ?, answer = ? WHERE key = ?",
            (status, json.dumps(answer), key),
        )

    def release(self, key: str) -> None:
        self._db.run("DELETE FROM idempotency WHERE key = ? AND status IS NULL", (key,))
