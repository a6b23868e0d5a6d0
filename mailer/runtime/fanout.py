"""Bounded concurrency for the timed work: a few threads, one task per key at a time.

A slow task (one mailbox's token endpoint or Mail API hanging until its timeout) holds one
thread; the others go on with the other mailboxes. Tests hand in ``inline=True``: each task
then runs at once in the caller's thread, so that a fake clock decides everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class Fanout:
    """Runs ``task(key)`` on a small pool, skipping keys whose task is still running."""

    def __init__(self, name: str, *, threads: int = 4, inline: bool = False) -> None:
        self._name = name
        self._threads = threads
        self._inline = inline
        self._running: set[str] = set()
        self._guard = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def busy(self) -> int:
        """Tasks submitted and not yet finished."""
        with self._guard:
            return len(self._running)

    def submit(self, key: str, task: Callable[[], object]) -> bool:
        """Run ``task`` unless a task for ``key`` is still running; False when skipped."""
        with self._guard:
            if key in self._running:
                return False
            self._running.add(key)
        if self._inline:
            self._run(key, task)
            return True
        if self._pool is None:
            # Made on first use, after gunicorn forked this worker: threads do not survive a fork.
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix=self._name)
        self._pool.submit(self._run, key, task)
        return True

    def _run(self, key: str, task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:
            log.exception("%s: unexpected error for %s", self._name, key)
        finally:
            with self._guard:
                self._running.discard(key)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
