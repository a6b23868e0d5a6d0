"""The only module that reads the wall clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch, as a float; wall time, because expiries are shared by processes.

    ``sleep`` is here too, so that code that waits for a moment waits on the same clock.
    """

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()  # noqa: TID251 - this is the one place allowed to read it

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def utc_iso(epoch_seconds: float | None) -> str | None:
    """An epoch time as an ISO 8601 UTC string, to the second."""
    if epoch_seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))
