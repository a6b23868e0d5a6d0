"""Single flight across threads and processes: an in-process lock, then a file lock beside the DB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from mailer.errors import NotReady


class LockTimeout(NotReady):
    """Someone else held the lock for longer than its holder's work may take."""

    code = "busy"


class NamedLocks:
    """Locks by name, held by at most one thread of one process at a time.

    The file lock is an OS lock (flock): a process killed while holding it releases it at
    once, and a live holder keeps it at most for one upstream call, which has a timeout.
    """

    def __init__(self, directory: Path, prefix: str, timeout_seconds: float) -> None:
        self._directory = directory
        self._prefix = prefix
        self._timeout_seconds = timeout_seconds
        self._thread_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            thread_lock = self._thread_locks.setdefault(name, threading.Lock())
        if not thread_lock.acquire(timeout=self._timeout_seconds):
            raise LockTimeout(f"another request has been renewing {name} for too long; try again")
        try:
            path = self._directory / f"{self._prefix}.{name}.lock"
            file_lock = filelock.FileLock(path, timeout=self._timeout_seconds, mode=0o600)
            try:
                file_lock.acquire()
            except filelock.Timeout as exc:
                raise LockTimeout(
                    f"another worker has been renewing {name} for too long; try again"
                ) from exc
            try:
                yield
            finally:
                file_lock.release()
        finally:
            thread_lock.release()
