"""The SQLite engine: one file shared by every worker of one host (WAL, 0600 from its first byte)."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from mailer.runtime.errors import StateBusy, StateUnavailable
from mailer.storage.common import Tables
from mailer.storage.database import Row
from mailer.storage.locks import FileLocks, flock_before
from mailer.storage.migrate import apply_migrations
from mailer.storage.sealing import Sealer

log = logging.getLogger(__name__)

# Every write waits this long for another process's write to finish before giving up.
BUSY_TIMEOUT_SECONDS = 10.0


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteTx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._db.execute(sql, params).fetchall())

    def row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found: Row | None = self._db.execute(sql, params).fetchone()
        return found


class SqliteDatabase:
    """Per-thread connections to one file; a forked process opens its own."""

    claim_suffix = ""
    writers_take_turns = True

    def __init__(self, path: Path, busy_timeout_seconds: float) -> None:
        self.path = path
        self._busy_timeout_seconds = busy_timeout_seconds
        self._local = threading.local()
        # The file this process works with (device, inode): one deleted or replaced under a
        # running gateway is refused, not silently recreated empty.
        self._identity: tuple[int, int] | None = None
        self._reported = False
        # Writers of one process queue here rather than in SQLite's busy handler, which polls
        # with sleeps of up to 100 ms: a thread waiting on this lock wakes the moment it frees.
        self._writer = threading.Lock()
        # Writers of every process take turns on a lock file beside the state (polled every
        # fraction of a millisecond), for the same reason: SQLite's sleeps would stall a
        # process's whole group commit behind another's.
        self._turns: tuple[int, int] | None = None  # (pid, fd)

    def create_file(self) -> None:
        """Create the file ourselves, so that it is 0600 from its first byte (SQLite gives the
        -wal and -shm files the same mode)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self._identity = None  # (re)created on purpose by the start-up path
        self._check_file()

    def use_wal(self) -> None:
        """WAL mode, once per file (it persists); the caller holds the migration lock."""
        with closing(sqlite3.connect(self.path, timeout=self._busy_timeout_seconds)) as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")

    def _check_file(self) -> None:
        """The file is still the one this process started with; else StateUnavailable."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise self._gone("was deleted") from None
        identity = (found.st_dev, found.st_ino)
        if self._identity is None:
            self._identity = identity
        elif identity != self._identity:
            raise self._gone("was replaced by another file")

    def _gone(self, what: str) -> StateUnavailable:
        message = (
            f"the state file {self.path} {what} while the gateway ran; restart the gateway "
            "(a new file starts empty: queued mail and the connection were in the old one)"
        )
        if not self._reported:
            log.error("%s", message)
            self._reported = True
        return StateUnavailable(message, retry_after_seconds=None)

    def connection(self) -> sqlite3.Connection:
        self._check_file()
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_seconds,
                isolation_level=None,
                check_same_thread=False,
            )
            db.row_factory = _dict_row
            # WAL is a property of the file, set once by create_file: setting it here again
            # would fail at once ("database is locked") while another connection writes.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    @contextmanager
    def read(self) -> Iterator[SqliteTx]:
        yield SqliteTx(self.connection())

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """This thread's turn to write, in this process and then among processes; a turn
        that does not come within the busy timeout is StateBusy."""
        if not self._writer.acquire(timeout=self._busy_timeout_seconds):
            raise _busy()
        try:
            fd = self._turns_fd()
            if not flock_before(fd, time.monotonic() + self._busy_timeout_seconds,
                                longest_pause=0.001):  # fmt: skip
                raise _busy()
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise _busy() from exc
        finally:
            self._writer.release()

    def _turns_fd(self) -> int:
        """This process's descriptor of the lock file (a forked process opens its own)."""
        if self._turns is None or self._turns[0] != os.getpid():
            fd = os.open(f"{self.path}.turns", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            self._turns = (os.getpid(), fd)
        return self._turns[1]

    @contextmanager
    def write(self, *, serialize: str | tuple[str, ...] | None = None) -> Iterator[SqliteTx]:
        """A write transaction that takes SQLite's write lock up front: writers take turns."""
        db = self.connection()
        with self._writer_turn():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        db = self.connection()
        with self._writer_turn():
            return db.execute(sql, params).rowcount

    def is_duplicate(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            db.close()
        self._local.db = None


def _busy() -> StateBusy:
    return StateBusy(
        "the gateway's state file is busy (locked by another process); try again",
        retry_after_seconds=1,
    )


class SqliteStorage(Tables):
    """The state in one SQLite file; single flight through file locks beside it."""

    engine = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS,
        lock_timeout_seconds: float = 20.0,
        sealer: Sealer | None = None,
    ) -> None:
        self.path = Path(path).absolute()
        self.database = SqliteDatabase(self.path, busy_timeout_seconds)
        super().__init__(self.database, sealer or Sealer())
        self.locks = FileLocks(self.path.parent, self.path.name, lock_timeout_seconds)

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    def migrate(self) -> list[str]:
        """Create the file if need be and apply pending migrations, one process at a time."""
        self.database.create_file()
        with self.locks.hold("migrate"):
            self.database.use_wal()
            return apply_migrations("sqlite", f"sqlite:///{self.path}")

    def ping(self) -> None:
        with self.database.read() as tx:
            tx.row("SELECT 1 AS ok")

    def size_pool(self, threads: int) -> None:
        """SQLite needs no pool: each thread opens its own connection."""

    def close(self) -> None:
        self.database.close()
