"""The gateway beside the fake alone, and what it costs Zoho: throughput and latency through
the gateway against straight to the fake, Zoho calls per 100 sends, token renewals over
restarts, and a burst of sends."""

from __future__ import annotations

import base64
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.drive import (
    BEARER,
    SEND,
    ZOHO_SEND,
    access_token,
    gateway,
    worker_rss_mb,
    wrk,
)
from tests.fake_zoho import ACCOUNT_ID, FakeZoho
from tests.gunicorn_server import Gunicorn, env_for


def throughput_and_latency(work: Path, runs: int, seconds: int) -> dict[str, Any]:
    results: dict[str, list[float]] = {
        "ratio": [],
        "gw_rps": [],
        "direct_rps": [],
        "added_p50": [],
        "added_p99": [],
        "gw_p50": [],
        "direct_p50": [],
        "errors": [],
    }
    rss: list[float] = []
    slow = FakeZoho(expires_in=3600).start()
    slow.token_limit = None
    slow.mail_delay_seconds = 0.1
    fast = FakeZoho(expires_in=3600).start()
    fast.token_limit = None
    try:
        slow_gw = gateway(slow, work, "throughput", ZOHO_RATE_LIMITS="off")
        fast_gw = gateway(fast, work, "latency", ZOHO_RATE_LIMITS="off")
        slow_direct = f"{slow.url}/api/accounts/{ACCOUNT_ID}/messages"
        fast_direct = f"{fast.url}/api/accounts/{ACCOUNT_ID}/messages"
        slow_auth = f"Zoho-oauthtoken {access_token(slow)}"
        fast_auth = f"Zoho-oauthtoken {access_token(fast)}"
        for _ in range(runs):
            direct = wrk(slow_direct, ZOHO_SEND, slow_auth, connections=16, seconds=seconds)
            through = wrk(
                f"{slow_gw.url}/api/email/send",
                SEND,
                BEARER["Authorization"],
                connections=16,
                seconds=seconds,
            )
            results["ratio"].append(through["rps"] / direct["rps"])
            results["gw_rps"].append(through["rps"])
            results["direct_rps"].append(direct["rps"])
            results["errors"].append(through["errors"])
            direct = wrk(fast_direct, ZOHO_SEND, fast_auth, connections=1, seconds=seconds)
            through = wrk(
                f"{fast_gw.url}/api/email/send",
                SEND,
                BEARER["Authorization"],
                connections=1,
                seconds=seconds,
            )
            results["added_p50"].append(through["p50"] - direct["p50"])
            results["added_p99"].append(through["p99"] - direct["p99"])
            results["gw_p50"].append(through["p50"])
            results["direct_p50"].append(direct["p50"])
            results["errors"].append(through["errors"])
        rss = worker_rss_mb(slow_gw) + worker_rss_mb(fast_gw)
        slow_gw.stop()
        fast_gw.stop()
    finally:
        slow.stop()
        fast.stop()
    medians = {k: statistics.median(v) for k, v in results.items()}
    medians["rss_max"] = max(rss)
    medians["rss_all"] = rss
    medians["runs"] = runs
    return medians


def calls_per_100(work: Path) -> dict[str, int]:
    fake = FakeZoho().start()
    try:
        server = gateway(fake, work, "calls", ZOHO_RATE_LIMITS="off")
        before = {"send": 0, "upload": 0, "accounts": 0}
        for call in fake.mail_calls:
            before[kind(call.path)] += 1
        token_before = len(fake.token_calls)
        pdf = base64.b64encode(b"%PDF-1.4 benchmark\n%%EOF\n").decode()
        for i in range(100):
            body = dict(SEND)
            if i % 10 == 0:
                body["attachments"] = [
                    {"filename": f"{i}.pdf", "content": pdf, "content_type": "application/pdf"}
                ]
            requests.post(f"{server.url}/api/email/send", json=body, headers=BEARER, timeout=10)
        server.stop()
        counts = {"send": 0, "upload": 0, "accounts": 0}
        for call in fake.mail_calls:
            counts[kind(call.path)] += 1
        return {k: counts[k] - before[k] for k in counts} | {
            "token": len(fake.token_calls) - token_before
        }
    finally:
        fake.stop()


def kind(path: str) -> str:
    if path.endswith("/attachments"):
        return "upload"
    return "send" if path.endswith("/messages") else "accounts"


def renewals(
    work: Path, restarts: int, lifetime_seconds: int, observe_seconds: int
) -> dict[str, float]:
    fake = FakeZoho().start()
    fake.token_limit = None
    try:
        env = env_for(
            fake,
            work / "renewals",
            ZOHO_REFRESH_TOKEN=fake.issue_refresh_token(),
            ZOHO_ACCOUNT_ID=ACCOUNT_ID,
            MAILER_LOG_LEVEL="INFO",
        )
        (work / "renewals").mkdir(parents=True, exist_ok=True)
        for i in range(restarts):
            server = Gunicorn(env, work / "renewals" / f"start-{i}.log", workers=4).start()
            server.wait_until(
                lambda s=server: s.log().count("using stored token") >= 4,
                what="startup",
            )
            server.stop()
        per_restart = (len(fake.refresh_calls()) - 1) / max(1, restarts - 1)
        # Lifetimes compressed: the fake's tokens live lead + lifetime seconds.
        fake.expires_in = 600 + lifetime_seconds
        env["ZOHO_REFRESH_TOKEN"] = fake.issue_refresh_token()
        server = Gunicorn(env, work / "renewals" / "lifetimes.log", workers=4).start()
        begin = len(fake.refresh_calls())
        time.sleep(observe_seconds)
        renewed = len(fake.refresh_calls()) - begin
        server.stop()
        return {
            "per_restart": per_restart,
            "lifetimes": observe_seconds / lifetime_seconds,
            "renewals": renewed,
        }
    finally:
        fake.stop()


def burst(work: Path, count: int) -> dict[str, Any]:
    fake = FakeZoho().start()
    try:
        server = gateway(fake, work, "burst")  # default pacing: 30/minute
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(
                pool.map(
                    lambda i: requests.post(
                        f"{server.url}/api/email/send",
                        headers=BEARER,
                        timeout=30,
                        json={**SEND, "subject": f"burst {i}"},
                    ),
                    range(count),
                )
            )
        accepted_seconds = time.monotonic() - started
        time.sleep(5)
        status = requests.get(f"{server.url}/api/email/status", headers=BEARER, timeout=5).json()
        sends = sorted(c.at for c in fake.mail_calls if c.path.endswith("/messages"))
        server.stop()
        busiest_minute = max(sum(1 for t in sends if s <= t < s + 60) for s in sends)
        codes = [a.status_code for a in answers]
        stored = status["queue_depth"] + len(
            [s for s in fake.sent if s["subject"].startswith("burst")]
        )
        return {
            "accepted_seconds": accepted_seconds,
            "accepted": codes.count(200) + codes.count(202),
            "sent_inline": codes.count(200),
            "busiest_minute": busiest_minute,
            "stored_or_sent": stored,
            "count": count,
        }
    finally:
        fake.stop()
