"""The SMTP accept rate next to the HTTP one: messages a second stored by 8 concurrent SMTP
clients (one session each, a transaction per message) ÷ 8 concurrent HTTP connections (wrk),
the same gateway, the pace holding every message (so each accept is a commit)."""

from __future__ import annotations

import smtplib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from bench.toggles import instant_fake
from tests.conftest import API_KEY
from tests.fake_zoho import PRIMARY
from tests.gunicorn_server import free_port

CLIENTS = 8
ROOT = Path(__file__).resolve().parent.parent


def _message(number: int) -> bytes:
    """Each one its own subject, date and Message-ID, as a real client's (no header repeats)."""
    mail = EmailMessage()
    mail["From"], mail["To"] = PRIMARY, "paula@example.com"
    mail["Subject"] = f"Benchmark {number}"
    mail["Date"] = formatdate(time.time() + number)
    mail["Message-ID"] = make_msgid()
    mail.set_content("hello from the benchmark")
    return mail.as_bytes()


def _client(port: int, seconds: float) -> int:
    """One SMTP session sending for ``seconds``; how many messages got a 250."""
    sent = 0
    deadline = time.monotonic() + seconds
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as session:
        session.login("bench", API_KEY)
        while time.monotonic() < deadline:
            session.sendmail(PRIMARY, ["paula@example.com"], _message(sent))
            sent += 1
    return sent


def smtp_rate(port: int, seconds: float) -> float:
    """Messages a second that ``CLIENTS`` sessions get a 250 for: each client a process of its
    own, as wrk's connections are not slowed by one interpreter's lock either."""
    with ProcessPoolExecutor(CLIENTS) as pool:
        list(pool.map(_client, [port] * CLIENTS, [0.2] * CLIENTS))  # start the processes
        started = time.monotonic()
        sent = sum(pool.map(_client, [port] * CLIENTS, [seconds] * CLIENTS))
        return sent / (time.monotonic() - started)


def _wait_for(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the bare SMTP server did not start")


def smtp_vs_http(
    work: Path,
    runs: int,
    seconds: int,
    *,
    gateway: Callable[..., Any],
    wrk: Callable[..., dict[str, float]],
    send: dict[str, Any],
    bearer: str,
) -> dict[str, float]:
    fake = instant_fake()
    port = free_port()
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "bench.bare_smtp", str(bare_port)], cwd=ROOT)
    try:
        server = gateway(fake, work, "smtp", ZOHO_RATE_LIMITS="1/hour", MAILER_SMTP_PORT=str(port))
        _wait_for(bare_port)
        found: dict[str, list[float]] = {"ratio": [], "smtp": [], "http": [], "bare": []}
        for _ in range(runs):
            http = wrk(
                f"{server.url}/api/email/send", send, bearer, connections=CLIENTS, seconds=seconds
            )
            assert http["errors"] == 0, http
            over_smtp = smtp_rate(port, seconds)
            found["ratio"].append(over_smtp / http["rps"])
            found["smtp"].append(over_smtp)
            found["http"].append(http["rps"])
            found["bare"].append(smtp_rate(bare_port, seconds))
        server.stop()
    finally:
        bare.terminate()
        bare.wait()
        fake.stop()
    return {k: statistics.median(v) for k, v in found.items()}
