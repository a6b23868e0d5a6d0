"""What a feature that can be switched off costs: the accept rate with it on ÷ off, side by side
in one run (medians of several)."""

from __future__ import annotations

import base64
import statistics
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.fake_zoho import FakeZoho


def instant_fake() -> FakeZoho:
    """A fake Zoho whose tokens live an hour and are never throttled."""
    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    return fake


def on_off_ratio(
    work: Path,
    runs: int,
    seconds: int,
    *,
    name: str,
    on: dict[str, str],
    off: dict[str, str],
    gateway: Callable[..., Any],
    wrk: Callable[..., dict[str, float]],
    send: dict[str, Any],
    bearer: str,
) -> dict[str, float]:
    """The rate of sends with the ``on`` settings ÷ with the ``off`` ones, SQLite, 16
    connections, two gateways side by side in each run."""
    fake = instant_fake()
    try:
        with_it = gateway(fake, work, f"{name}-on", **on)
        without = gateway(fake, work, f"{name}-off", **off)
        found: dict[str, list[float]] = {"ratio": [], "on": [], "off": []}
        for _ in range(runs):
            rate_off = wrk(
                f"{without.url}/api/email/send", send, bearer, connections=16, seconds=seconds
            )
            rate_on = wrk(
                f"{with_it.url}/api/email/send", send, bearer, connections=16, seconds=seconds
            )
            assert rate_on["errors"] == 0 and rate_off["errors"] == 0, (rate_on, rate_off)
            found["ratio"].append(rate_on["rps"] / rate_off["rps"])
            found["on"].append(rate_on["rps"])
            found["off"].append(rate_off["rps"])
        with_it.stop()
        without.stop()
    finally:
        fake.stop()
    return {k: statistics.median(v) for k, v in found.items()}


def metrics_ratio(work: Path, runs: int, seconds: int, **drive: Any) -> dict[str, float]:
    """The durable accept rate (every message held by the pace: 202 after the commit) with
    MAILER_METRICS=on ÷ with it off."""
    held = {"ZOHO_RATE_LIMITS": "1/hour"}
    return on_off_ratio(
        work,
        runs,
        seconds,
        name="metrics",
        on={**held, "MAILER_METRICS": "on"},
        off={**held, "MAILER_METRICS": "off"},
        **drive,
    )


def back_pressure_ratio(work: Path, runs: int, seconds: int, **drive: Any) -> dict[str, float]:
    """The durable accept rate (the pace holds every message, so the queue grows during the run)
    with every back-pressure check on ÷ with them off: accept limits no run reaches, the default
    queue cap and repeat guard, each request a message of its own (as a client's would be)."""
    held = {"ZOHO_RATE_LIMITS": "1/hour"}
    never = "100000000"
    drive = {**drive, "send": {**drive["send"], "subject": "bench {n}"}}
    return on_off_ratio(
        work,
        runs,
        seconds,
        name="back-pressure",
        on={
            **held,
            "MAILER_ACCEPT_LIMITS": f"{never}/minute;{never}/day",
            "MAILER_MAX_QUEUED": never,
            "MAILER_REPEAT_LIMIT": "5/hour",
        },
        off=held,
        **drive,
    )


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def webhooks_ratio(work: Path, runs: int, seconds: int, **drive: Any) -> dict[str, float]:
    """The send rate (each send goes out inline, so each stores a message.sent event when
    webhooks are on, delivered by the timed work to a loopback receiver) on ÷ off."""
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hooks = {
        "MAILER_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_port}/hooks",
        "MAILER_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"bench-webhook-secret").decode(),
        "MAILER_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    try:
        return on_off_ratio(
            work,
            runs,
            seconds,
            name="webhooks",
            on={"ZOHO_RATE_LIMITS": "off", **hooks},
            off={"ZOHO_RATE_LIMITS": "off"},
            **drive,
        )
    finally:
        receiver.shutdown()
