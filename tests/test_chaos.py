"""Chaos across hosts, end to end in real time: two hosts on one PostgreSQL, three workers each,
a steady stream of sends, and at random a worker ``kill -9``, a whole host ``kill -9`` and
restart, a database restart, and the fake Zoho's faults.

At the end every accepted message is delivered, and a message went out twice only when it was
in flight at the fake when something was killed (at least once, never lost). The seed is
printed; MAILER_CHAOS_SEED replays one, MAILER_CHAOS_SECONDS makes it longer.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start, two_hosts
from tests.postgres import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SEED = int(os.environ.get("MAILER_CHAOS_SEED", "1201"))
SECONDS = float(os.environ.get("MAILER_CHAOS_SECONDS", "60"))
# How long after a send reached the fake a kill can still cut off its being recorded.
IN_FLIGHT_SECONDS = 1.5


class Sender(threading.Thread):
    """Ten sends a second to either host, for as long as the chaos lasts; keeps what was
    accepted (200 or 202) by subject."""

    def __init__(self, hosts: list[Gunicorn], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.hosts, self.rng = hosts, rng
        self.accepted: dict[str, str] = {}  # subject -> message id
        self.refused: Counter[str] = Counter()
        self.done = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.done.is_set():
            number += 1
            subject = f"chaos-{number}"
            host = self.hosts[self.rng.randrange(len(self.hosts))]
            try:
                answer = requests.post(
                    f"{host.url}/api/email/send",
                    json={"to": "paula@example.com", "subject": subject, "text": "hi"},
                    headers=auth_header(),
                    timeout=5,
                )
            except requests.RequestException as exc:
                self.refused[type(exc).__name__] += 1
            else:
                if answer.status_code in (200, 202):
                    self.accepted[subject] = answer.json()["id"]
                else:
                    self.refused[str(answer.status_code)] += 1
            time.sleep(0.1)


def test_chaos_across_two_hosts_loses_nothing(
    real_fake: FakeZoho,
    restartable_postgres: PostgresServer,
    tmp_path: Path,
    servers: list[Gunicorn],
    report: Callable[[str], None],
) -> None:
    rng = random.Random(SEED)
    report(f"chaos: seed {SEED} (replay: MAILER_CHAOS_SEED={SEED}), {SECONDS:.0f} s")
    real_fake.mail_delay_seconds = 0.2  # so that sends are in flight when something dies
    real_fake.slow_seconds = 1.5  # a "timeout" fault outlasts ZOHO_TIMEOUT_SECONDS
    env = seeded_env(
        real_fake,
        tmp_path,
        MAILER_DB=restartable_postgres.new_database(),
        MAILER_DB_TIMEOUT_SECONDS="1",
        MAILER_LEASE_SECONDS="3",
        MAILER_RETRY_SECONDS="0.5",
        ZOHO_TIMEOUT_SECONDS="1",
        ZOHO_RATE_LIMITS="20/second",
        MAILER_LOG_LEVEL="INFO",
    )
    hosts = list(two_hosts(servers, env, tmp_path))
    sender = Sender(hosts, random.Random(SEED + 1))
    sender.start()
    cuts: list[float] = []  # when something that may hold a send in flight was cut off
    done: Counter[str] = Counter()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(2, 5))
        action = rng.choice(["worker", "worker", "host", "database", "zoho"])
        index = rng.randrange(2)
        if action == "worker":
            pids = hosts[index].worker_pids()
            if not pids:  # the master is between a death and a boot
                continue
            cuts.append(time.time())
            os.kill(rng.choice(pids), signal.SIGKILL)
        elif action == "host":
            cuts.append(time.time())
            hosts[index].kill_all()
            time.sleep(rng.uniform(0.5, 2))
            hosts[index] = start(servers, env, tmp_path / f"host-{'ab'[index]}")
            sender.hosts = hosts
        elif action == "database":
            cuts.append(time.time())
            restartable_postgres.stop()
            time.sleep(rng.uniform(0.5, 2))
            restartable_postgres.start()
        else:
            fault = rng.choice(["mail_down", "token_500", "mail_timeout", "mail_throttle"])
            action = f"zoho {fault}"
            if fault == "mail_down":
                real_fake.mail_down = True
                time.sleep(rng.uniform(1, 3))
                real_fake.mail_down = False
            elif fault == "token_500":
                real_fake.token_failures.extend(["500"] * 3)
            else:
                real_fake.mail_failures.append(fault.removeprefix("mail_"))
        done[action] += 1
    sender.done.set()
    sender.join()

    def sent() -> Counter[str]:
        return Counter(s["subject"] for s in list(real_fake.sent))

    def statuses() -> Counter[str]:
        """Each accepted message's status (a worker still finding the database again after a
        restart answers 503: asked again on the next round)."""
        found: Counter[str] = Counter()
        for message_id in sender.accepted.values():
            answer = requests.get(
                f"{hosts[0].url}/api/email/messages/{message_id}", headers=auth_header(), timeout=5
            )
            found[answer.json()["status"] if answer.status_code == 200 else "unknown"] += 1
        return found

    hosts[0].wait_until(
        lambda: set(sender.accepted) <= set(sent()), what="every accepted message", timeout=90
    )
    hosts[0].wait_until(lambda: statuses() == {"sent": len(sender.accepted)}, what="all sent")
    copies = sent()
    duplicates = [subject for subject, count in copies.items() if count > 1]
    first_sent: dict[str, float] = {}
    with real_fake.lock:
        delivered = list(zip(real_fake.sent, real_fake.sent_at, strict=True))
    for body, at in delivered:
        first_sent.setdefault(body["subject"], at)
    unexplained = [
        subject
        for subject in duplicates
        if not any(
            0 <= cut - first_sent[subject] <= real_fake.mail_delay_seconds + IN_FLIGHT_SECONDS
            for cut in cuts
        )
    ]
    report(
        f"  {dict(done)}; {len(sender.accepted)} accepted, refused {dict(sender.refused)}; "
        f"all delivered; {len(duplicates)} delivered twice (in flight at a cut)"
    )
    assert unexplained == []
