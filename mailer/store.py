"""SQLite state shared by all workers and restarts: connections and their tokens, OAuth states."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every write waits this long for another process's write to finish before giving up.
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    refresh_token TEXT,
    seed_fingerprint TEXT,
    accounts_url TEXT NOT NULL,
    mail_api_url TEXT NOT NULL,
    account_id TEXT,
    primary_address TEXT,
    send_as TEXT NOT NULL DEFAULT '[]',
    access_token TEXT,
    access_expires_at REAL,
    next_renewal_at REAL,
    renewal_failures INTEGER NOT NULL DEFAULT 0,
    last_renewal_at REAL,
    last_renewal_outcome TEXT,
    needs_reauth INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    answer TEXT,
    leased_until REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_states (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
"""


@dataclass(frozen=True)
class Account:
    """The Zoho mailbox a connection sends from."""

    account_id: str
    primary_address: str
    send_as: tuple[str, ...]


@dataclass(frozen=True)
class Connection:
    """One connected Zoho mailbox: its refresh token, where it lives, and its current access token."""

    id: str
    refresh_token: str | None
    seed_fingerprint: str | None
    accounts_url: str
    mail_api_url: str
    account_id: str | None
    primary_address: str | None
    send_as: tuple[str, ...]
    access_token: str | None
    access_expires_at: float | None
    next_renewal_at: float | None
    renewal_failures: int
    last_renewal_at: float | None
    last_renewal_outcome: str | None
    needs_reauth: bool

    def seconds_left(self, now: float) -> float:
        """Lifetime left of the access token; 0 when there is none."""
        if self.access_token is None or self.access_expires_at is None:
            return 0.0
        return max(0.0, self.access_expires_at - now)

    def renewal_due(self, now: float) -> bool:
        """Whether the schedule (or the back-off after a failure) allows a renewal now."""
        return self.refresh_token is not None and (
            self.next_renewal_at is None or now >= self.next_renewal_at
        )

    @property
    def account(self) -> Account | None:
        if self.account_id is None or self.primary_address is None:
            return None
        return Account(self.account_id, self.primary_address, self.send_as)


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an earlier request with the same Idempotency-Key left: in flight, or its answer."""

    fingerprint: str
    status: int | None
    answer: dict[str, Any] | None
    leased_until: float


@dataclass(frozen=True)
class OAuthState:
    """A consent flow in progress, as the callback finds it."""

    browser_hash: str
    expires_at: float
    used_at: float | None


class Store:
    """The one place that reads and writes the SQLite file; safe across threads, forks and workers."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file ourselves so that it is 0600 from its first byte; SQLite gives the
        # -wal and -shm files the same mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection; a fork gets new ones rather than sharing the parent's."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes SQLite's write lock up front."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            db.close()
        self._local.db = None

    # Connections -----------------------------------------------------------------------

    def connection(self, connection_id: str) -> Connection | None:
        row = (
            self._db()
            .execute("SELECT * FROM connections WHERE id = ?", (connection_id,))
            .fetchone()
        )
        return None if row is None else _connection(row)

    def seed_connection(
        self,
        connection_id: str,
        *,
        refresh_token: str,
        fingerprint: str,
        accounts_url: str,
        mail_api_url: str,
        account_id: str | None,
        now: float,
    ) -> bool:
        """Apply the environment's refresh token unless this same one was applied before."""
        with self._write() as db:
            row = db.execute(
                "SELECT seed_fingerprint FROM connections WHERE id = ?", (connection_id,)
            ).fetchone()
            if row is not None and row["seed_fingerprint"] == fingerprint:
                return False
            db.execute("DELETE FROM connections WHERE id = ?", (connection_id,))
            db.execute(
                "INSERT INTO connections (id, refresh_token, seed_fingerprint, accounts_url,"
                " mail_api_url, account_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    connection_id,
                    refresh_token,
                    fingerprint,
                    accounts_url,
                    mail_api_url,
                    account_id,
                    now,
                ),
            )
            return True

    def replace_connection(
        self,
        connection_id: str,
        *,
        refresh_token: str,
        accounts_url: str,
        mail_api_url: str,
        account: Account,
        access_token: str,
        access_expires_at: float,
        next_renewal_at: float,
        now: float,
    ) -> None:
        """Store a connection made through the consent flow, replacing any earlier one."""
        with self._write() as db:
            old = db.execute(
                "SELECT seed_fingerprint FROM connections WHERE id = ?", (connection_id,)
            ).fetchone()
            db.execute("DELETE FROM connections WHERE id = ?", (connection_id,))
            db.execute(
                "INSERT INTO connections (id, refresh_token, seed_fingerprint, accounts_url,"
                " mail_api_url, account_id, primary_address, send_as, access_token,"
                " access_expires_at, next_renewal_at, last_renewal_at, last_renewal_outcome,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'connected', ?)",
                (
                    connection_id,
                    refresh_token,
                    old["seed_fingerprint"] if old else None,
                    accounts_url,
                    mail_api_url,
                    account.account_id,
                    account.primary_address,
                    json.dumps(list(account.send_as)),
                    access_token,
                    access_expires_at,
                    next_renewal_at,
                    now,
                    now,
                ),
            )

    def record_renewal(
        self,
        connection_id: str,
        *,
        access_token: str,
        access_expires_at: float,
        next_renewal_at: float,
        now: float,
    ) -> None:
        """A renewal succeeded: the new token, its expiry and the next renewal time."""
        with self._write() as db:
            db.execute(
                "UPDATE connections SET access_token = ?, access_expires_at = ?,"
                " next_renewal_at = ?, renewal_failures = 0, last_renewal_at = ?,"
                " last_renewal_outcome = 'renewed', needs_reauth = 0, updated_at = ?"
                " WHERE id = ?",
                (access_token, access_expires_at, next_renewal_at, now, now, connection_id),
            )

    def record_renewal_failure(
        self,
        connection_id: str,
        *,
        outcome: str,
        failures: int,
        next_renewal_at: float,
        needs_reauth: bool,
        now: float,
    ) -> None:
        """A renewal failed: when to try again, and whether an admin must reconnect."""
        with self._write() as db:
            db.execute(
                "UPDATE connections SET next_renewal_at = ?, renewal_failures = ?,"
                " last_renewal_at = ?, last_renewal_outcome = ?, needs_reauth = ?,"
                " access_token = CASE WHEN ? THEN NULL ELSE access_token END,"
                " access_expires_at = CASE WHEN ? THEN NULL ELSE access_expires_at END,"
                " updated_at = ? WHERE id = ?",
                (
                    next_renewal_at,
                    failures,
                    now,
                    outcome,
                    needs_reauth,
                    needs_reauth,
                    needs_reauth,
                    now,
                    connection_id,
                ),
            )

    def discard_access_token(self, connection_id: str, access_token: str) -> None:
        """Forget an access token Zoho refused, unless it was replaced meanwhile."""
        with self._write() as db:
            db.execute(
                "UPDATE connections SET access_token = NULL, access_expires_at = NULL"
                " WHERE id = ? AND access_token = ?",
                (connection_id, access_token),
            )

    def save_account(self, connection_id: str, account: Account) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE connections SET account_id = ?, primary_address = ?, send_as = ?"
                " WHERE id = ?",
                (
                    account.account_id,
                    account.primary_address,
                    json.dumps(list(account.send_as)),
                    connection_id,
                ),
            )

    # Idempotency records ---------------------------------------------------------------

    def claim_idempotency_key(
        self, key: str, fingerprint: str, *, now: float, leased_until: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """Claim ``key`` for a new request; returns the existing record instead when one holds it.

        A record whose answer never came and whose lease ran out (its worker died) is taken over.
        """
        with self._write() as db:
            db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
            row = db.execute(
                "SELECT fingerprint, status, answer, leased_until FROM idempotency WHERE key = ?",
                (key,),
            ).fetchone()
            if row is not None and (row["status"] is not None or row["leased_until"] > now):
                answer = None if row["answer"] is None else json.loads(row["answer"])
                return IdempotencyRecord(
                    row["fingerprint"], row["status"], answer, row["leased_until"]
                )
            db.execute(
                "INSERT OR REPLACE INTO idempotency (key, fingerprint, leased_until, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (key, fingerprint, leased_until, expires_at),
            )
            return None

    def complete_idempotency_key(self, key: str, status: int, answer: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE idempotency SET status = ?, answer = ? WHERE key = ?",
                (status, json.dumps(answer), key),
            )

    def release_idempotency_key(self, key: str) -> None:
        """Forget a claim whose request failed in a way worth retrying with the same key."""
        with self._write() as db:
            db.execute("DELETE FROM idempotency WHERE key = ? AND status IS NULL", (key,))

    # OAuth states ----------------------------------------------------------------------

    def add_oauth_state(
        self, state_hash: str, browser_hash: str, expires_at: float, now: float
    ) -> None:
        """Remember a consent flow's state; forget the long-expired ones while at it."""
        with self._write() as db:
            db.execute("DELETE FROM oauth_states WHERE expires_at < ?", (now - 86400,))
            db.execute(
                "INSERT INTO oauth_states (state_hash, browser_hash, expires_at) VALUES (?, ?, ?)",
                (state_hash, browser_hash, expires_at),
            )

    def take_oauth_state(self, state_hash: str, browser_hash: str, now: float) -> OAuthState | None:
        """Look a state up and, when it belongs to this browser, mark it used (once)."""
        with self._write() as db:
            row = db.execute(
                "SELECT browser_hash, expires_at, used_at FROM oauth_states WHERE state_hash = ?",
                (state_hash,),
            ).fetchone()
            if row is None:
                return None
            if row["browser_hash"] == browser_hash and row["used_at"] is None:
                db.execute(
                    "UPDATE oauth_states SET used_at = ? WHERE state_hash = ?", (now, state_hash)
                )
            return OAuthState(row["browser_hash"], row["expires_at"], row["used_at"])


def _connection(row: sqlite3.Row) -> Connection:
    return Connection(
        id=row["id"],
        refresh_token=row["refresh_token"],
        seed_fingerprint=row["seed_fingerprint"],
        accounts_url=row["accounts_url"],
        mail_api_url=row["mail_api_url"],
        account_id=row["account_id"],
        primary_address=row["primary_address"],
        send_as=tuple(json.loads(row["send_as"])),
        access_token=row["access_token"],
        access_expires_at=row["access_expires_at"],
        next_renewal_at=row["next_renewal_at"],
        renewal_failures=row["renewal_failures"],
        last_renewal_at=row["last_renewal_at"],
        last_renewal_outcome=row["last_renewal_outcome"],
        needs_reauth=bool(row["needs_reauth"]),
    )
