"""Several hosts on PostgreSQL, end to end: two gunicorn masters, each started from a directory
of its own, sharing nothing but the database, in real time against the fake Zoho.

Leases and windows are shortened through settings, so nothing waits for long.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, two_hosts
from tests.postgres import PostgresServer

pytestmark = pytest.mark.slow


def message(subject: str) -> dict[str, str]:
    return {"to": "paula@example.com", "subject": subject, "text": "hi"}


def post(host: Gunicorn, subject: str, timeout: float = 15) -> requests.Response:
    return requests.post(
        f"{host.url}/api/email/send", json=message(subject), headers=auth_header(), timeout=timeout
    )


def sent_subjects(fake: FakeZoho) -> list[str]:
    return [s["subject"] for s in fake.sent]


def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_hosts_mint_one_token_and_renew_once_per_lifetime(
    real_fake: FakeZoho, postgres: PostgresServer, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    # A 2-second schedule (lifetime 602 s, lead 600 s): several lifetimes pass in seconds.
    real_fake.expires_in = 602
    real_fake.token_limit = None
    env = seeded_env(real_fake, tmp_path, MAILER_DB=postgres.new_database())
    a, b = two_hosts(servers, env, tmp_path)
    wait_for(lambda: len(real_fake.refresh_calls()) >= 5, "five renewals", timeout=20)
    times = [c.at for c in real_fake.refresh_calls()]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The first gap is the start: one mint for six workers on two hosts, not one each.
    assert all(1.5 <= gap <= 3.5 for gap in gaps), gaps
    assert post(a, "from a").status_code == 200 and post(b, "from b").status_code == 200
    for host in (a, b):
        assert host.log().count("schema upgraded") <= 1
    assert "schema upgraded" in a.log() + b.log()  # one of the two applied it


def test_the_pace_holds_across_two_hosts(
    real_fake: FakeZoho, postgres: PostgresServer, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(
        real_fake, tmp_path, MAILER_DB=postgres.new_database(), ZOHO_RATE_LIMITS="4/second"
    )
    a, b = two_hosts(servers, env, tmp_path)
    subjects = [f"n{i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post((a, b)[i % 2], subjects[i]), range(24)))
    assert {r.status_code for r in answers} <= {200, 202}
    wait_for(lambda: len(real_fake.sent) >= 24, "every message delivered", timeout=30)
    assert sorted(sent_subjects(real_fake)) == sorted(subjects)
    sends = sorted(c.at for c in real_fake.mail_calls if c.path.endswith("/messages"))
    busiest = max(sum(1 for t in sends if start <= t < start + 1.0) for start in sends)
    assert busiest <= 4, busiest


def test_kill_9_of_one_host_with_mail_in_flight_loses_nothing(
    real_fake: FakeZoho,
    postgres: PostgresServer,
    tmp_path: Path,
    servers: list[Gunicorn],
    report: Callable[[str], None],
) -> None:
    database = postgres.new_database()
    env = seeded_env(
        real_fake, tmp_path, MAILER_DB=database, ZOHO_TIMEOUT_SECONDS="2", MAILER_LEASE_SECONDS="3"
    )
    a, b = two_hosts(servers, env, tmp_path)
    assert post(a, "warm-up").status_code == 200  # the account is looked up once, before
    real_fake.mail_delay_seconds = 1.0  # every send now stays in flight for a second

    def send(subject: str) -> None:
        with contextlib.suppress(requests.RequestException):  # host a died before it answered
            post(a, subject, timeout=5)

    threads = [threading.Thread(target=send, args=(f"m{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(0.6)  # stored, and in flight at the fake
    killed_at = time.time()
    a.kill_all()
    for thread in threads:
        thread.join()
    real_fake.mail_delay_seconds = 0.0
    in_flight = [
        c for c in real_fake.mail_calls if c.path.endswith("/messages") and c.at < killed_at
    ]
    stored = unsent(database)
    assert len(stored) >= 10  # what host a accepted before it died, acknowledged or not
    # Host b delivers every one of them once host a's lease has lapsed.
    wait_for(lambda: not unsent(database), "b to deliver", timeout=30)
    assert stored <= set(sent_subjects(real_fake))
    duplicates = len(real_fake.sent) - len(set(sent_subjects(real_fake)))
    # Only a message in flight at the kill can go out twice (at least once, never lost).
    assert duplicates <= len(in_flight) - 1  # the warm-up was sent once
    report(f"kill -9 of a host: {len(stored)} stored, {duplicates} delivered twice")
    assert post(b, "after").status_code == 200


def unsent(database: str) -> set[str]:
    """The subjects of the messages the state holds that are not sent yet."""
    with psycopg.connect(database) as connection:
        rows = connection.execute(
            "SELECT payload::json->>'subject' FROM mailer.messages WHERE status <> 'sent'"
        ).fetchall()
    return {row[0] for row in rows}


def test_a_database_restart_gives_503_then_recovers_without_a_restart(
    real_fake: FakeZoho,
    restartable_postgres: PostgresServer,
    tmp_path: Path,
    servers: list[Gunicorn],
    report: Callable[[str], None],
) -> None:
    env = seeded_env(
        real_fake,
        tmp_path,
        MAILER_DB=restartable_postgres.new_database(),
        MAILER_DB_TIMEOUT_SECONDS="1",
        MAILER_RETRY_SECONDS="1",
    )
    a, b = two_hosts(servers, env, tmp_path)
    accepted = [s for s in ("before-a", "before-b") if post(a if s[-1] == "a" else b, s).ok]
    assert len(accepted) == 2
    real_fake.mail_down = True  # what is accepted next stays queued through the outage
    accepted += [s for s in ("queued-1", "queued-2") if post(a, s).status_code == 202]
    assert len(accepted) == 4

    restartable_postgres.stop()
    for host in (a, b):
        started = time.monotonic()
        down = post(host, "during the outage")
        assert time.monotonic() - started < 5  # answered within seconds, not a hang
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "state_unavailable"
        health = requests.get(f"{host.url}/api/email/health", timeout=10)
        assert health.status_code == 503

    restartable_postgres.start()
    restarted = time.monotonic()
    real_fake.mail_down = False
    for host in (a, b):
        # Every worker finds the database again by itself; a send may meet a worker that has
        # not yet (503, nothing stored) until then.
        def sends(h: Gunicorn = host) -> bool:
            answer = post(h, f"after-{h.port}")
            assert answer.status_code in (200, 503), answer.text
            return answer.status_code == 200

        wait_for(sends, "sends to work again", timeout=20)
        accepted.append(f"after-{host.port}")
    report(f"database restart: sends work again {time.monotonic() - restarted:.1f} s later")
    wait_for(lambda: set(accepted) <= set(sent_subjects(real_fake)), "the queue to drain")
    assert "during the outage" not in sent_subjects(real_fake)
    for host in (a, b):  # the outage is logged once per worker, not every second
        assert host.log().count("the timed work goes on once it answers") <= 3
