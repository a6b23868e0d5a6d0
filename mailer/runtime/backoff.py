"""Exponential back-off, the one rule every retry of the gateway follows."""

from __future__ import annotations

import random


def backoff(
    first_seconds: float, failures: int, *, cap_seconds: float, jitter: random.Random | None = None
) -> float:
    """Seconds before the next try after ``failures`` failures in a row (at least one): the
    first wait, doubled with each failure, at most ``cap_seconds``. With ``jitter``, a random
    share of that between half and all of it, so that what failed together does not retry in
    step."""
    delay = min(cap_seconds, first_seconds * 2.0 ** (max(1, failures) - 1))
    return delay if jitter is None else jitter.uniform(delay / 2, delay)
