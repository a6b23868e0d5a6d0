"""The PostgreSQL engine: any number of hosts share one state, in schema ``mailer``.

Writers that must take turns (the pace of a mailbox, an idempotency key) serialize on a
transaction-level advisory lock; a message is leased with ``FOR UPDATE SKIP LOCKED``; single
flight (one renewal per mailbox across hosts) holds an advisory lock on a connection of its
own, which PostgreSQL releases if that host dies. While the database cannot be reached,
every call raises StateUnavailable within the pool timeout instead of hanging.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from mailer.runtime.errors import LockTimeout, StateUnavailable
from mailer.storage.common import Tables
from mailer.storage.database import Row
from mailer.storage.locks import ThreadLocks
from mailer.storage.migrate import apply_migrations
from mailer.storage.sealing import Sealer

log = logging.getLogger(__name__)

SCHEMA = "mailer"
# Connections beyond a worker's request threads: the scheduler's jobs and single flight.
EXTRA_CONNECTIONS = 4
DEFAULT_POOL_SIZE = 16 + EXTRA_CONNECTIONS
# How long the migration lock may be waited for: another host applying a long migration.
MIGRATE_LOCK_SECONDS = 120


def redacted(url: str) -> str:
    """The URL without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _unavailable(exc: Exception) -> StateUnavailable:
    # psycopg's message can name the host; never the password (libpq does not print it).
    return StateUnavailable(
        f"the state database cannot be reached right now ({type(exc).__name__}); try again",
        retry_after_seconds=2,
    )


class PostgresTx:
    """Statements on one pooled connection. A connection that turns out dead on its first
    statement (a database restart, a failover, an idle timeout) is swapped for another and
    the statement run once more: nothing was done on it yet, so nothing is done twice."""

    def __init__(self, checkout: Callable[[], psycopg.Connection[Any]]) -> None:
        self._checkout = checkout
        self._connection = checkout()
        self._first = True

    def _run(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        try:
            return self._connection.execute(_placeholders(sql), params)
        except psycopg.OperationalError:
            if not (self._first and self._connection.broken):
                raise
            self._connection = self._checkout()  # the dead one goes back and is discarded
            return self._connection.execute(_placeholders(sql), params)
        finally:
            self._first = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(sql, params).rowcount

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._first = False
        with self._connection.cursor() as cursor:
            cursor.executemany(_placeholders(sql), params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._run(sql, params).fetchall())

    def row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found: Row | None = self._run(sql, params).fetchone()
        return found


_converted: dict[str, str] = {}


def _placeholders(sql: str) -> str:
    """The tables write ``?``; psycopg takes ``%s``. (No table's SQL holds a literal ? or %.)"""
    found = _converted.get(sql)
    if found is None:
        found = _converted[sql] = sql.replace("?", "%s")
    return found


class PostgresDatabase:
    """A connection pool per process, opened on first use (so after gunicorn's fork)."""

    claim_suffix = " FOR UPDATE SKIP LOCKED"
    writers_take_turns = False

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.pool_size = DEFAULT_POOL_SIZE
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def pool(self) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
        with self._guard:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    open=False,
                    timeout=self.timeout_seconds,
                    configure=_configure,
                    kwargs={
                        "autocommit": True,
                        "row_factory": dict_row,
                        "connect_timeout": max(1, round(self.timeout_seconds)),
                    },
                    name="mailer",
                )
                self._pool.open(wait=False)
                self._pid = os.getpid()
            return self._pool

    @contextmanager
    def _checkouts(self) -> Iterator[Callable[[], psycopg.Connection[dict[str, Any]]]]:
        """Checkouts from the pool; each new one returns the one before. Errors of the pool or
        of the database become StateUnavailable."""
        pool = self.pool()
        with ExitStack() as held:

            def checkout() -> psycopg.Connection[dict[str, Any]]:
                held.close()  # the previous connection, if any, back to the pool
                return held.enter_context(pool.connection())

            try:
                yield checkout
            except PoolTimeout as exc:
                self._restart_if_empty(pool)
                raise _unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    raise
                raise _unavailable(exc) from exc

    def _restart_if_empty(self, pool: ConnectionPool[Any]) -> None:
        """A pool with no connection at all is failing to reach the database, and backs off
        longer after each failure; a new one tries at once, so recovery does not wait for
        the length of the outage. (A pool that is merely busy is left alone.)"""
        if pool.get_stats().get("pool_size", 0) > 0:
            return
        with self._guard:
            if self._pool is pool:
                self._pool = None
        pool.close(timeout=0)

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        with self._checkouts() as checkout:
            yield PostgresTx(checkout)

    @contextmanager
    def write(self, *, serialize: str | tuple[str, ...] | None = None) -> Iterator[PostgresTx]:
        with self._checkouts() as checkout:
            tx = PostgresTx(checkout)
            tx.execute("BEGIN")
            try:
                for key in (serialize,) if isinstance(serialize, str) else serialize or ():
                    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))
                yield tx
            except BaseException:
                with suppress(psycopg.Error):
                    tx.execute("ROLLBACK")
                raise
            tx.execute("COMMIT")

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._checkouts() as checkout:
            return PostgresTx(checkout).execute(sql, params)

    def is_duplicate(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    def close(self) -> None:
        with self._guard:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None


def _configure(connection: psycopg.Connection[Any]) -> None:
    connection.execute(f"SET search_path TO {SCHEMA}")


class AdvisoryLocks:
    """Single flight across hosts: a transaction-level advisory lock on its own connection."""

    def __init__(self, db: PostgresDatabase, timeout_seconds: float) -> None:
        self._db = db
        self._threads = ThreadLocks(timeout_seconds)

    def hold(self, name: str) -> AbstractContextManager[None]:
        return self._hold(name)

    @contextmanager
    def _hold(self, name: str) -> Iterator[None]:
        timeout_ms = int(self._threads.timeout_seconds * 1000)
        with self._threads.hold(name), self._db.write() as tx:
            tx.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            try:
                tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 1))", (name,))
            except psycopg.errors.LockNotAvailable as exc:
                raise LockTimeout(f"another host has held {name} for too long; try again") from exc
            yield


class PostgresStorage(Tables):
    """The state in a PostgreSQL database, shared by every worker of every host."""

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 3.0,
        lock_timeout_seconds: float = 20.0,
        sealer: Sealer | None = None,
    ) -> None:
        self.database = PostgresDatabase(url, timeout_seconds=timeout_seconds)
        super().__init__(self.database, sealer or Sealer())
        self.locks = AdvisoryLocks(self.database, lock_timeout_seconds)

    def describe(self) -> str:
        return f"PostgreSQL {redacted(self.database.url)}, schema {SCHEMA}"

    def size_pool(self, threads: int) -> None:
        """Size this process's pool to its request threads (before its first use)."""
        self.database.pool_size = threads + EXTRA_CONNECTIONS

    def migrate(self) -> list[str]:
        """Create the schema and apply pending migrations; other processes wait their turn."""
        try:
            with psycopg.connect(
                self.database.url, autocommit=True, connect_timeout=10
            ) as connection:
                connection.execute(f"SET lock_timeout = {MIGRATE_LOCK_SECONDS * 1000}")
                connection.execute("SELECT pg_advisory_lock(hashtextextended('migrate', 2))")
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                return apply_migrations("postgresql", _yoyo_url(self.database.url))
        except psycopg.Error as exc:  # a bad URL's error quotes the URL: name the type only
            raise _unavailable(exc) from None

    def ping(self) -> None:
        with self.database.read() as tx:
            tx.row("SELECT 1 AS ok")

    def close(self) -> None:
        self.database.close()


def _yoyo_url(url: str) -> str:
    """yoyo's name for the same database, with psycopg 3 and our schema."""
    parts = urlsplit(url)
    query = f"{parts.query}&schema={SCHEMA}" if parts.query else f"schema={SCHEMA}"
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=query))
