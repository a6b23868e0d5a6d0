"""The fault suite: what production does to the gateway, what the user sees, and that nothing
accepted is lost. In-process cases run on a fake clock; process-level ones under gunicorn."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from mailer.config.settings import Settings
from tests.conftest import MESSAGE, FakeClock, auth_header, send
from tests.fake_zoho import ACCOUNT_ID, FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start

pytestmark = pytest.mark.fault


@pytest.fixture
def gateway(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> Callable[..., tuple[Flask, FlaskClient]]:
    """A gateway seeded with a valid refresh token; ``started`` runs its startup."""

    def build(*, started: bool = True, **overrides: Any) -> tuple[Flask, FlaskClient]:
        settings = make_settings(
            fake_zoho,
            zoho_refresh_token=fake_zoho.issue_refresh_token(),
            zoho_account_id=ACCOUNT_ID,
            **overrides,
        )
        app, client = make_app(settings)
        if started:
            app.extensions["mailer"].jobs.startup()
        return app, client

    return build


def run_for(app: Flask, clock: FakeClock, seconds: int, step: int = 5) -> None:
    """Let the scheduler's jobs run for ``seconds`` of fake time."""
    for _ in range(seconds // step):
        clock.advance(step)
        app.extensions["mailer"].jobs.tick()
        app.extensions["mailer"].jobs.deliver()


def all_sent(client: FlaskClient, ids: list[str]) -> bool:
    views = [client.get(f"/api/email/messages/{i}", headers=auth_header()).get_json() for i in ids]
    return all(v["status"] == "sent" for v in views)


@pytest.mark.parametrize("failure", ["500", "timeout", "throttle", "html", "empty"])
def test_the_token_endpoint_failing_at_startup(
    gateway: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock, failure: str
) -> None:
    """The user sees 503 on /status with the next try, and 202 on sends; all go out later."""
    fake_zoho.slow_seconds = 0.6
    fake_zoho.token_failures.append(failure)
    app, client = gateway(zoho_timeout_seconds=0.3)
    status = client.get("/api/email/status")
    assert status.status_code == 503 and "next try" in status.get_json()["reason"]
    ids = [send(client, {**MESSAGE, "subject": f"s{i}"}).get_json()["id"] for i in range(3)]
    assert len(fake_zoho.token_calls) == 1  # sends do not hammer a failing token endpoint
    run_for(app, clock, 1800)  # a throttle holds renewals 10 minutes; messages back off meanwhile
    assert all_sent(client, ids)
    assert client.get("/api/email/status").status_code == 200


@pytest.mark.parametrize("failure", ["500", "timeout", "throttle"])
def test_the_token_endpoint_failing_in_the_middle_of_a_lifetime(
    gateway: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock, failure: str
) -> None:
    """The user sees nothing: the current token is still valid and is used meanwhile."""
    fake_zoho.slow_seconds = 0.6
    app, client = gateway(zoho_timeout_seconds=0.3)
    fake_zoho.token_failures.append(failure)
    run_for(app, clock, 3000)  # the proactive renewal fails
    assert len(fake_zoho.refresh_calls()) == 2
    assert send(client).status_code == 200
    run_for(app, clock, 600)
    assert len(fake_zoho.refresh_calls()) == 3 and send(client).status_code == 200


def test_an_invalid_refresh_token_at_startup(
    gateway: Callable[..., Any], fake_zoho: FakeZoho
) -> None:
    """The user sees 503 pointing to /api/email/auth, on /status and on sends; nothing accepted."""
    fake_zoho.token_failures.append("invalid_code")
    app, client = gateway()
    for response in (client.get("/api/email/status"), send(client)):
        assert response.status_code == 503
        assert "/api/email/auth" in response.get_data(as_text=True)
    assert app.extensions["mailer"].storage.messages.stats("default").depth == 0


def test_an_invalid_refresh_token_in_the_middle_of_a_lifetime_holds_the_queue(
    gateway: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    """Queued messages wait (not failed, attempts not used up); new sends get 503."""
    app, client = gateway()
    fake_zoho.mail_down = True
    queued = send(client).get_json()["id"]
    fake_zoho.token_failures.extend(["invalid_code"] * 50)
    run_for(app, clock, 3100)  # the renewal at 3000 s finds the refresh token revoked
    fake_zoho.mail_down = False
    assert send(client).status_code == 503
    held = client.get(f"/api/email/messages/{queued}", headers=auth_header()).get_json()
    run_for(app, clock, 3600)
    later = client.get(f"/api/email/messages/{queued}", headers=auth_header()).get_json()
    assert later["status"] == "queued"
    assert later["attempts"] == held["attempts"]  # waiting uses up no attempts


@pytest.mark.parametrize("failure", ["500", "timeout", "throttle", "401"])
def test_the_mail_api_failing(
    gateway: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock, failure: str
) -> None:
    """A 5xx, a timeout or throttling: 202, delivered later. A refused token: renewed, 200."""
    fake_zoho.slow_seconds = 0.6
    app, client = gateway(zoho_timeout_seconds=0.3)
    fake_zoho.mail_failures.append(failure)
    first = send(client)
    assert first.status_code == (200 if failure == "401" else 202)
    run_for(app, clock, 120)
    assert all_sent(client, [first.get_json()["id"]])


def test_the_sqlite_file_busy(gateway: Callable[..., Any], fake_zoho: FakeZoho) -> None:
    """Briefly busy: the request waits and succeeds. Busy past the timeout: 503, nothing accepted."""
    app, client = gateway(started=True)
    storage = app.extensions["mailer"].storage
    storage.database._busy_timeout_seconds = 0.3
    storage.close()

    def hold(seconds: float, held: threading.Event) -> None:
        with sqlite3.connect(storage.path, isolation_level=None) as other:
            other.execute("BEGIN EXCLUSIVE")
            held.set()
            threading.Event().wait(seconds)
            other.execute("COMMIT")

    held = threading.Event()
    brief = threading.Thread(target=hold, args=(0.1, held))
    brief.start()
    held.wait()
    assert send(client).status_code == 200
    brief.join()

    held = threading.Event()
    long_hold = threading.Thread(target=hold, args=(0.6, held))
    long_hold.start()
    held.wait()
    busy = send(client, {**MESSAGE, "subject": "busy"})
    long_hold.join()
    assert busy.status_code == 503
    assert busy.get_json()["error"]["code"] == "state_busy"
    assert busy.headers["Retry-After"] == "1"
    assert [s["subject"] for s in fake_zoho.sent] == ["Hello"]
    assert storage.messages.stats("default").depth == 0


def test_a_clock_jump_of_two_hours(
    gateway: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    """Queued messages and the token both catch up at the next tick; nothing fails for it."""
    app, client = gateway()
    fake_zoho.mail_down = True
    queued = send(client).get_json()["id"]
    fake_zoho.mail_down = False
    clock.advance(7200)
    app.extensions["mailer"].jobs.tick()
    app.extensions["mailer"].jobs.deliver()
    assert len(fake_zoho.refresh_calls()) == 2
    assert all_sent(client, [queued])


def lock_holder(lock_file: Path) -> int | None:
    """The pid holding an flock on ``lock_file``, read from /proc/locks."""
    inode = lock_file.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:
            continue  # a waiter, not the holder
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return int(fields[4])
    return None


def test_a_worker_killed_during_a_renewal(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    """The others take over at once; the user sees every send succeed."""
    real_fake.slow_seconds = 30.0  # the first renewal hangs until its worker is killed
    real_fake.token_failures.append("timeout")
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_TIMEOUT_SECONDS="20",
    )
    server = start(servers, env, tmp_path, workers=3, wait_ready=False)
    lock_file = tmp_path / "state" / "mailer.sqlite3.token-default.lock"
    server.wait_until(
        lambda: lock_file.exists() and lock_holder(lock_file) is not None, what="a worker renewing"
    )
    holder = lock_holder(lock_file)
    assert holder is not None
    os.kill(holder, signal.SIGKILL)
    server.wait_until(lambda: len(real_fake.refresh_calls()) >= 2, what="another worker's renewal")
    server.wait_until(lambda: server._answers(), what="gunicorn to answer")
    answers = [
        requests.post(
            f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
        )
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [200] * 6
    assert len(real_fake.refresh_calls()) == 2


def test_ten_restarts_in_a_row_renew_once_and_lose_nothing(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="off",
    )
    accepted = []
    for i in range(10):
        server = start(servers, env, tmp_path, workers=2)
        response = requests.post(
            f"{server.url}/api/email/send",
            timeout=10,
            headers=auth_header(),
            json={**MESSAGE, "subject": f"restart-{i}"},
        )
        accepted.append(response.json()["id"])
        server.stop()
    assert len(real_fake.refresh_calls()) == 1
    assert sorted(s["subject"] for s in real_fake.sent) == sorted(f"restart-{i}" for i in range(10))
    starts = sum(len(re.findall("using stored token", s.log())) for s in servers)
    assert starts >= 18  # every worker of every later start used the stored token


def process_with_port(port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` owns the TCP socket whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def test_a_worker_killed_during_a_delivery(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    """The user's 202 holds: another worker delivers once the lease runs out (at least once)."""
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="off",
        ZOHO_TIMEOUT_SECONDS="3",
        MAILER_RETRY_SECONDS="0.5",
    )
    server = start(servers, env, tmp_path, workers=2)
    real_fake.mail_down = True
    queued = requests.post(
        f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
    )
    assert queued.status_code == 202
    calls_before = len(real_fake.mail_calls)
    real_fake.mail_delay_seconds = 2.0  # the next delivery is in flight for 2 s
    real_fake.mail_down = False
    server.wait_until(lambda: len(real_fake.mail_calls) > calls_before, what="a delivery attempt")
    assert server.process is not None
    workers = [
        int(p)
        for p in Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        .read_text()
        .split()
    ]
    deliverer = process_with_port(real_fake.mail_calls[-1].remote_port, workers)
    assert deliverer is not None
    os.kill(deliverer, signal.SIGKILL)
    real_fake.mail_delay_seconds = 0.0
    message_id = queued.json()["id"]

    def status() -> str:
        response = requests.get(
            f"{server.url}/api/email/messages/{message_id}", headers=auth_header(), timeout=5
        )
        return str(response.json()["status"])

    server.wait_until(
        lambda: status() == "sent", what="the message sent by another worker", timeout=40
    )
