"""Figures of many mailboxes: a renewal sweep pass that finds nothing due at 10,000 mailboxes
(per engine), and the resident memory of a worker serving 10,000 of them."""

from __future__ import annotations

import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from mailer.mailboxes.renewal_sweep import RenewalSweep
from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.clock import SystemClock
from mailer.runtime.digests import digest
from mailer.runtime.fanout import Fanout
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from mailer.storage.records import Grant
from tests.conftest import admin_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, env_for

MAILBOXES = 10_000
SENDING = 1_000  # mailboxes that send one message each in the memory figure
SEND = {"to": "paula@example.com", "subject": "Benchmark", "text": "hello"}


def populate(storage: Storage, fake: FakeZoho, count: int) -> dict[str, str]:
    """``count`` connected mailboxes, each a Zoho user of its own, none due for renewal (their
    stored access token is stale, so a send renews it on demand); returns name -> API key."""
    storage.migrate()
    now = time.time()
    rng = random.Random(1)
    keys = {}
    for i in range(count):
        name = f"m{i:05d}"
        storage.mailboxes.create(
            name,
            accounts_url=fake.url,
            mail_api_url=fake.url,
            from_address=None,
            refresh_token=fake.add_account(f"{name}@acme.example"),
            now=now,
        )
        later = now + 600 + rng.uniform(0, 3000)
        storage.mailboxes.record_renewal(name, Grant("stale", now - 1, later), now=now)
        if i < SENDING:
            keys[name] = f"mk_bench_{name}"
            storage.api_keys.add(f"key_{name}", name, digest(keys[name]), now=now)
    return keys


def idle_sweep_ms(storage: Storage, passes: int = 500) -> float:
    """The median wall time of a sweep pass that finds nothing due."""
    tokens = TokenService(
        mailboxes=storage.mailboxes,
        accounts=None,  # type: ignore[arg-type]  # nothing is due: never called
        locks=storage.locks,
        clock=SystemClock(),
        policy=RenewalPolicy(),
    )
    sweep = RenewalSweep(
        mailboxes=storage.mailboxes,
        tokens=tokens,
        clock=SystemClock(),
        fanout=Fanout("bench", inline=True),
        claim_seconds=65,
    )
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        assert sweep.run() == 0
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def worker_memory_mb(work: Path, fake: FakeZoho, rss: Any) -> dict[str, Any]:
    """Gunicorn (production defaults) on a state of 10,000 mailboxes: resident memory per
    worker after listing them all and a send from each of 1,000 of them."""
    db = work / "mailboxes" / "state.sqlite3"
    db.parent.mkdir(parents=True)
    storage = open_storage(str(db))
    keys = populate(storage, fake, MAILBOXES)
    storage.close()
    env = env_for(fake, work / "mailboxes", MAILER_DB=str(db), MAILER_LOG_LEVEL="WARNING")
    env["ZOHO_RATE_LIMITS"] = "off"
    server = Gunicorn(env, work / "mailboxes.log", workers=2)
    server.workers_arg = False  # the production default from gunicorn.conf.py
    server.start()
    try:
        before = rss(server)
        for _ in range(4):  # each worker may serve one
            listed = requests.get(
                f"{server.url}/api/email/mailboxes", headers=admin_header(), timeout=120
            )
            assert len(listed.json()["mailboxes"]) == MAILBOXES + 1

        def send(key: str) -> int:
            answer = requests.post(
                f"{server.url}/api/email/send",
                json=SEND,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            return answer.status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(send, keys.values()))
        assert statuses.count(200) == len(keys), statuses
        after = rss(server)
    finally:
        server.stop()
    return {"before": max(before), "after": max(after), "all": after}


def measure(work: Path, rss: Any) -> dict[str, Any]:
    from tests.postgres import PostgresServer

    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    postgres = PostgresServer(work / "postgres-mailboxes")
    figures: dict[str, Any] = {}
    try:
        for engine in ("sqlite", "postgresql"):
            location = (
                str(work / "sweep.sqlite3") if engine == "sqlite" else postgres.new_database()
            )
            storage = open_storage(location)
            populate(storage, fake, MAILBOXES)
            figures[f"sweep_{engine}"] = idle_sweep_ms(storage)
            storage.close()
        figures["memory"] = worker_memory_mb(work, fake, rss)
    finally:
        postgres.close()
        fake.stop()
    return figures
