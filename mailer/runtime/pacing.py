"""The sliding-window arithmetic of pacing: pure, shared by every engine.

A limit of N calls per window is widened by a margin (see ``windows_for``) and checked
against the timestamps of the calls already made in the longest window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` calls in any window of ``window_seconds``."""

    count: int
    window_seconds: float


# Each window is widened by this share of itself, and by at least the minimum: the time
# between taking a permit and Zoho receiving the call varies (threads, a busy machine), and
# the calls as Zoho sees them must stay within the limit too.
MARGIN_SHARE = 0.1
MARGIN_MIN_SECONDS = 0.25


def windows_for(limits: tuple[RateLimit, ...]) -> tuple[RateLimit, ...]:
    """The limits as the pace applies them: each window widened by the pacing margin."""
    return tuple(
        RateLimit(
            limit.count,
            limit.window_seconds + max(MARGIN_MIN_SECONDS, limit.window_seconds * MARGIN_SHARE),
        )
        for limit in limits
    )


def longest(windows: tuple[RateLimit, ...]) -> float:
    return max((w.window_seconds for w in windows), default=0.0)


def wait_seconds(
    recent: Sequence[float], calls: int, windows: tuple[RateLimit, ...], now: float
) -> float:
    """Seconds until ``calls`` more calls fit every window (0.0: they fit now).

    ``recent`` holds the times of the calls made within the longest window, oldest first.
    """
    wait = 0.0
    for window in windows:
        count, seconds = window.count, window.window_seconds
        in_window = [at for at in recent if at > now - seconds]
        # A single message never waits forever on a limit smaller than its own calls.
        excess = len(in_window) + min(calls, count) - count
        if excess > 0:
            # The oldest ``excess`` calls must leave the window first.
            index = min(excess, len(in_window)) - 1
            wait = max(wait, in_window[index] + seconds - now) if in_window else seconds
    return wait
