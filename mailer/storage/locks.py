"""Single flight: an in-process lock by name, then the engine's cross-process lock.

The in-process lock comes first so that one process holds at most one cross-process lock
(and, on PostgreSQL, one connection) per name, however many of its threads want it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from mailer.runtime.errors import LockTimeout

# How often a process waiting for another's lock looks again.
POLL_SECONDS = 0.01


class ThreadLocks:
    """Locks by name for the threads of one process."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=self.timeout_seconds):
            raise LockTimeout(f"another request has held {name} for too long; try again")
        try:
            yield
        finally:
            lock.release()


class FileLocks:
    """Locks by name across the processes of one host: an flock on a file beside the database.

    An OS lock: a process killed while holding it releases it at once, and a live holder keeps
    it at most for one upstream call, which has a timeout. (Plain fcntl: the renewal sweep takes
    one per mailbox renewal, so it must cost little.)
    """

    def __init__(self, directory: Path, prefix: str, timeout_seconds: float) -> None:
        self._directory = directory
        self._prefix = prefix
        self._threads = ThreadLocks(timeout_seconds)

    def hold(self, name: str) -> AbstractContextManager[None]:
        return self._hold(name)

    @contextmanager
    def _hold(self, name: str) -> Iterator[None]:
        with self._threads.hold(name):
            path = self._directory / f"{self._prefix}.{name}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                self._acquire(fd, name)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _acquire(self, fd: int, name: str) -> None:
        deadline = time.monotonic() + self._threads.timeout_seconds
        if not flock_before(fd, deadline, longest_pause=POLL_SECONDS):
            raise LockTimeout(f"another worker has held {name} for too long; try again")


def flock_before(fd: int, deadline: float, *, longest_pause: float) -> bool:
    """Take the file's exclusive lock before ``deadline`` (monotonic); False if another
    process holds it until then. Polled: from 0.1 ms, doubling up to ``longest_pause``."""
    pause = min(0.0001, longest_pause)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, longest_pause)
