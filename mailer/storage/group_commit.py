"""Group commit: request threads hand their writes to one committing thread at a time, which
runs whatever has gathered in one transaction and wakes each thread after the commit.

A thread that finds no commit under way commits itself, at once (a lone request waits for no
one and pays no hand-over); one that finds a commit under way waits, and the writes that
gathered meanwhile go in the next transaction, committed by the first of them. So one commit
(and, on PostgreSQL, one WAL flush) serves many requests under load. Nothing is acknowledged
before it is committed; a kill at any point leaves either a whole batch or none of it.

A batch takes its writers' locks (``serialize`` keys) in one order before its first write, so
two batches never deadlock. When a write raises, the batch is rolled back and each of its
writes runs again alone, so one bad write fails only its own request; when the store itself
fails (unreachable, busy), every write of the batch gets that answer at once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mailer.runtime.errors import StateBusy, StateUnavailable
from mailer.storage.database import Database, Tx

log = logging.getLogger(__name__)

T = TypeVar("T")

# At most this many writes in one transaction: a batch holds the state's write lock (SQLite)
# or its mailboxes' locks (PostgreSQL) for as long as it takes.
MAX_BATCH = 64
# A request waits this long for its batch beyond the state's own timeout, then answers 503.
WAIT_MARGIN_SECONDS = 30.0


@dataclass
class _Write(Generic[T]):
    work: Callable[[Tx], T]
    serialize: tuple[str, ...]
    # Set once: when the write is committed (or failed), or when its thread is to commit next.
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    leads: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, db: Database, *, timeout_seconds: float = 3.0) -> None:
        self._db = db
        self._timeout_seconds = timeout_seconds
        self._pending: deque[_Write[Any]] = deque()
        self._lock = threading.Lock()
        self._committing = False  # a thread is committing batches now
        self.batches = 0  # how many transactions, and how many writes they held (for tests)
        self.writes = 0

    def __repr__(self) -> str:
        return f"GroupCommit(batches={self.batches}, writes={self.writes})"

    def run(self, work: Callable[[Tx], T], *, serialize: str | tuple[str, ...] = ()) -> T:
        """Run ``work`` in a batch's transaction; return its result once committed.

        ``work`` may run twice (alone, after its batch failed): it must only read and write
        through the transaction it is given."""
        keys = (serialize,) if isinstance(serialize, str) else serialize
        write: _Write[T] = _Write(work, keys)
        with self._lock:
            self._pending.append(write)
            write.leads = not self._committing
            self._committing = True
        while not write.leads and not write.finished:
            if write.wake.wait(self._timeout_seconds + WAIT_MARGIN_SECONDS):
                continue
            with self._lock:  # waited too long: give up, unless it is being committed now
                if write in self._pending and not write.leads:
                    self._pending.remove(write)
                    raise StateBusy("the state store took too long to commit; try again")
        if write.leads:
            self._lead(write)
        if write.error is not None:
            raise write.error
        result: T = write.result
        return result

    def _lead(self, mine: _Write[Any]) -> None:
        """Commit batches until this thread's own write is in one; then hand over to the
        first write still waiting, or stop."""
        try:
            while not mine.finished:
                with self._lock:
                    batch = [
                        self._pending.popleft() for _ in range(min(MAX_BATCH, len(self._pending)))
                    ]
                try:
                    self._commit(batch)
                except BaseException as exc:  # every waiter must wake, whatever a batch did
                    log.exception("group commit: a batch failed unexpectedly")
                    for write in batch:
                        write.error = write.error or exc
                    raise
                finally:
                    for write in batch:
                        write.finished = True
                        if write is not mine:
                            write.wake.set()
        finally:
            with self._lock:
                if self._pending:
                    successor = self._pending[0]
                    successor.leads = True
                    successor.wake.set()
                else:
                    self._committing = False

    def _commit(self, batch: list[_Write[Any]]) -> None:
        keys = tuple(sorted({key for write in batch for key in write.serialize}))
        results: list[Any] = []
        try:
            with self._db.write(serialize=keys) as tx:
                for write in batch:
                    results.append(write.work(tx))
        except BaseException as exc:
            if len(batch) == 1 or isinstance(exc, StateBusy | StateUnavailable):
                for write in batch:  # alone, or the store itself failed: each gets its answer
                    write.error = exc
                return
            for write in batch:  # each again on its own: only the bad one fails
                self._commit([write])
            return
        self.batches += 1
        self.writes += len(batch)
        for write, result in zip(batch, results, strict=True):
            write.result = result
