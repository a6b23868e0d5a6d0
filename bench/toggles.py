"""What a feature that can be switched off costs: the accept rate with it on ÷ off, side by side
in one run (medians of several)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fake_zoho import FakeZoho


def metrics_ratio(
    work: Path,
    runs: int,
    seconds: int,
    *,
    gateway: Callable[..., Any],
    wrk: Callable[..., dict[str, float]],
    send: dict[str, Any],
    bearer: str,
) -> dict[str, float]:
    """The durable accept rate (every message held by the pace: 202 after the commit) with
    MAILER_METRICS=on ÷ with it off, SQLite, 16 connections."""
    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    try:
        on = gateway(fake, work, "metrics-on", ZOHO_RATE_LIMITS="1/hour", MAILER_METRICS="on")
        off = gateway(fake, work, "metrics-off", ZOHO_RATE_LIMITS="1/hour", MAILER_METRICS="off")
        found: dict[str, list[float]] = {"ratio": [], "on": [], "off": []}
        for _ in range(runs):
            with_off = wrk(
                f"{off.url}/api/email/send", send, bearer, connections=16, seconds=seconds
            )
            with_on = wrk(f"{on.url}/api/email/send", send, bearer, connections=16, seconds=seconds)
            assert with_on["errors"] == 0 and with_off["errors"] == 0, (with_on, with_off)
            found["ratio"].append(with_on["rps"] / with_off["rps"])
            found["on"].append(with_on["rps"])
            found["off"].append(with_off["rps"])
        on.stop()
        off.stop()
    finally:
        fake.stop()
    return {k: statistics.median(v) for k, v in found.items()}
