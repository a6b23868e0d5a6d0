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

from mailer.errors import NotReady

# Every write waits this long for another process's write to finish before giving up.
BUSY_TIMEOUT_SECONDS = 10.0


class StateBusy(NotReady):
    """The SQLite file stayed locked by someone else for the whole busy timeout."""

    code = "state_busy"


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
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    payload TEXT NOT NULL,
    calls INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    leased_until REAL,
    last_error_code TEXT,
    last_error TEXT,
    zoho_error_code TEXT,
    zoho_message_id TEXT,
    mail_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (connection_id, status, next_attempt_at);
CREATE INDEX IF NOT EXISTS messages_finished ON messages (finished_at);
CREATE TABLE IF NOT EXISTS message_attachments (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE TABLE IF NOT EXISTS mail_calls (connection_id TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS mail_calls_at ON mail_calls (connection_id, at);
CREATE TABLE IF NOT EXISTS mail_pauses (
    connection_id TEXT PRIMARY KEY,
    paused_until REAL NOT NULL,
    throttles INTEGER NOT NULL
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
class StoredMessage:
    """An accepted message and where its delivery stands; ``payload`` is its JSON form."""

    id: str
    connection_id: str
    status: str
    payload: dict[str, Any]
    attachments: tuple[tuple[str, str, bytes], ...]
    calls: int
    attempts: int
    next_attempt_at: float
    leased_until: float | None
    last_error_code: str | None
    last_error: str | None
    zoho_error_code: str | None
    zoho_message_id: str | None
    mail_id: str | None
    created_at: float
    updated_at: float
    finished_at: float | None


@dataclass(frozen=True)
class MailPause:
    """Zoho throttled this mailbox: no calls before ``paused_until``."""

    paused_until: float
    throttles: int


@dataclass(frozen=True)
class OAuthState:
    """A consent flow in progress, as the callback finds it."""

    browser_hash: str
    expires_at: float
    used_at: float | None


class Store:
    """The one place that reads and writes the SQLite file; safe across threads, forks and workers."""

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_seconds = busy_timeout_seconds
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
                timeout=self._busy_timeout_seconds,
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
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise StateBusy(
                "the gateway's state file is busy (locked by another process); try again",
                retry_after_seconds=1,
            ) from exc
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

    # Messages -----------------------------------------------------------------------------

    def add_message(
        self,
        message_id: str,
        connection_id: str,
        *,
        payload: dict[str, Any],
        attachments: list[tuple[str, str, bytes]],
        calls: int,
        now: float,
        lease_owner: str | None = None,
        leased_until: float | None = None,
    ) -> StoredMessage:
        """Persist an accepted message: queued, or already claimed by ``lease_owner``."""
        status = "queued" if lease_owner is None else "sending"
        with self._write() as db:
            db.execute(
                "INSERT INTO messages (id, connection_id, status, payload, calls, next_attempt_at,"
                " lease_owner, leased_until, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    connection_id,
                    status,
                    json.dumps(payload),
                    calls,
                    now,
                    lease_owner,
                    leased_until,
                    now,
                    now,
                ),
            )
            db.executemany(
                "INSERT INTO message_attachments (message_id, position, filename, content_type,"
                " content) VALUES (?, ?, ?, ?, ?)",
                [
                    (message_id, i, name, kind, content)
                    for i, (name, kind, content) in enumerate(attachments)
                ],
            )
        return StoredMessage(
            id=message_id,
            connection_id=connection_id,
            status=status,
            payload=payload,
            attachments=tuple((name, kind, content) for name, kind, content in attachments),
            calls=calls,
            attempts=0,
            next_attempt_at=now,
            leased_until=leased_until,
            last_error_code=None,
            last_error=None,
            zoho_error_code=None,
            zoho_message_id=None,
            mail_id=None,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )

    def claim_due_message(
        self, connection_id: str, *, now: float, owner: str, leased_until: float
    ) -> StoredMessage | None:
        """Lease the next due message to ``owner``: a queued one, or one whose lease ran out."""
        if not self._has_due_message(connection_id, now):
            return None  # the common case, answered without taking the write lock
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM messages WHERE connection_id = ? AND ("
                " (status = 'queued' AND next_attempt_at <= ?)"
                " OR (status = 'sending' AND leased_until <= ?))"
                " ORDER BY next_attempt_at, created_at LIMIT 1",
                (connection_id, now, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE messages SET status = 'sending', lease_owner = ?, leased_until = ?,"
                " updated_at = ? WHERE id = ?",
                (owner, leased_until, now, row["id"]),
            )
        return self.message(row["id"])

    def _has_due_message(self, connection_id: str, now: float) -> bool:
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM messages WHERE connection_id = ? AND ("
                " (status = 'queued' AND next_attempt_at <= ?)"
                " OR (status = 'sending' AND leased_until <= ?)) LIMIT 1",
                (connection_id, now, now),
            )
            .fetchone()
        )
        return row is not None

    def message(self, message_id: str) -> StoredMessage | None:
        db = self._db()
        row = db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        attachments = db.execute(
            "SELECT filename, content_type, content FROM message_attachments"
            " WHERE message_id = ? ORDER BY position",
            (message_id,),
        ).fetchall()
        return StoredMessage(
            id=row["id"],
            connection_id=row["connection_id"],
            status=row["status"],
            payload=json.loads(row["payload"]),
            attachments=tuple((a[0], a[1], bytes(a[2])) for a in attachments),
            calls=row["calls"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            leased_until=row["leased_until"],
            last_error_code=row["last_error_code"],
            last_error=row["last_error"],
            zoho_error_code=row["zoho_error_code"],
            zoho_message_id=row["zoho_message_id"],
            mail_id=row["mail_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )

    def finish_message(
        self,
        message_id: str,
        owner: str,
        *,
        status: str,
        now: float,
        attempts: int,
        zoho_message_id: str | None = None,
        mail_id: str | None = None,
        error_code: str | None = None,
        error: str | None = None,
        zoho_error_code: str | None = None,
    ) -> bool:
        """Record a final outcome (sent or failed); False when ``owner`` no longer holds the lease."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET status = ?, attempts = ?, zoho_message_id = ?, mail_id = ?,"
                " last_error_code = COALESCE(?, last_error_code),"
                " last_error = COALESCE(?, last_error), zoho_error_code = ?,"
                " lease_owner = NULL, leased_until = NULL, updated_at = ?, finished_at = ?"
                " WHERE id = ? AND lease_owner = ? AND status = 'sending'",
                (
                    status,
                    attempts,
                    zoho_message_id,
                    mail_id,
                    error_code,
                    error,
                    zoho_error_code,
                    now,
                    now,
                    message_id,
                    owner,
                ),
            )
            return cursor.rowcount == 1

    def retry_message(
        self,
        message_id: str,
        owner: str,
        *,
        next_attempt_at: float,
        attempts: int,
        now: float,
        error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Put a claimed message back in the queue until ``next_attempt_at``."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET status = 'queued', attempts = ?, next_attempt_at = ?,"
                " last_error_code = COALESCE(?, last_error_code),"
                " last_error = COALESCE(?, last_error), lease_owner = NULL, leased_until = NULL,"
                " updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'sending'",
                (attempts, next_attempt_at, error_code, error, now, message_id, owner),
            )
            return cursor.rowcount == 1

    def queue_stats(self, connection_id: str) -> tuple[int, float | None]:
        """How many messages wait or are being sent, and when the oldest of them was accepted."""
        row = (
            self._db()
            .execute(
                "SELECT count(*), min(created_at) FROM messages"
                " WHERE connection_id = ? AND status IN ('queued', 'sending')",
                (connection_id,),
            )
            .fetchone()
        )
        return int(row[0]), row[1]

    def purge(self, *, finished_before: float, now: float) -> int:
        """Delete finished messages (with their bodies and attachments) and stale records."""
        with self._write() as db:
            deleted = db.execute(
                "DELETE FROM messages WHERE status IN ('sent', 'failed') AND finished_at < ?",
                (finished_before,),
            ).rowcount
            db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM oauth_states WHERE expires_at < ?", (now - 86400,))
        return int(deleted)

    # Pacing of calls to Zoho Mail ---------------------------------------------------------

    def take_mail_calls(
        self,
        connection_id: str,
        calls: int,
        windows: tuple[tuple[int, float], ...],
        *,
        now: float,
    ) -> float:
        """Record ``calls`` calls now if every (count, window seconds) allows it: returns 0.0.

        Otherwise records nothing and returns how many seconds to wait. The check and the
        record are one transaction, so all workers together stay within the limits.
        """
        if not windows or calls <= 0:
            return 0.0
        longest = max(window for _, window in windows)
        with self._write() as db:
            db.execute(
                "DELETE FROM mail_calls WHERE connection_id = ? AND at <= ?",
                (connection_id, now - longest),
            )
            wait = _pacing_wait(db, connection_id, calls, windows, now)
            if wait > 0:
                return wait
            db.executemany(
                "INSERT INTO mail_calls (connection_id, at) VALUES (?, ?)",
                [(connection_id, now)] * calls,
            )
            return 0.0

    def mail_calls_wait(
        self,
        connection_id: str,
        calls: int,
        windows: tuple[tuple[int, float], ...],
        *,
        now: float,
    ) -> float:
        """How long ``calls`` calls would wait now; a read, which records and locks nothing."""
        if not windows or calls <= 0:
            return 0.0
        return _pacing_wait(self._db(), connection_id, calls, windows, now)

    def mail_pause(self, connection_id: str) -> MailPause | None:
        row = (
            self._db()
            .execute(
                "SELECT paused_until, throttles FROM mail_pauses WHERE connection_id = ?",
                (connection_id,),
            )
            .fetchone()
        )
        return None if row is None else MailPause(row["paused_until"], row["throttles"])

    def pause_mail(self, connection_id: str, *, paused_until: float, throttles: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO mail_pauses (connection_id, paused_until, throttles)"
                " VALUES (?, ?, ?)",
                (connection_id, paused_until, throttles),
            )

    def clear_mail_pause(self, connection_id: str) -> None:
        if self.mail_pause(connection_id) is None:
            return  # the common case, answered without taking the write lock
        with self._write() as db:
            db.execute("DELETE FROM mail_pauses WHERE connection_id = ?", (connection_id,))

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


def _pacing_wait(
    db: sqlite3.Connection,
    connection_id: str,
    calls: int,
    windows: tuple[tuple[int, float], ...],
    now: float,
) -> float:
    """Seconds until ``calls`` more calls fit every window (0.0: they fit now)."""
    wait = 0.0
    for count, window in windows:
        recent = [
            r[0]
            for r in db.execute(
                "SELECT at FROM mail_calls WHERE connection_id = ? AND at > ? ORDER BY at",
                (connection_id, now - window),
            )
        ]
        # A single message never waits forever on a limit smaller than its own calls.
        excess = len(recent) + min(calls, count) - count
        if excess > 0:
            # The oldest ``excess`` calls must leave the window first.
            index = min(excess, len(recent)) - 1
            wait = max(wait, recent[index] + window - now) if recent else window
    return wait


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
