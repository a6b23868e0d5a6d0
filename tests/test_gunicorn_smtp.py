"""SMTP ingress under gunicorn, in real time: every worker listens on one port (SO_REUSEPORT),
the listener survives a worker's death and stops with gunicorn, and a message answered 250 is
delivered even when the whole gunicorn is killed right after."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
from pathlib import Path

import pytest

from tests.conftest import API_KEY, plain
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, free_port, seeded_env, start

pytestmark = pytest.mark.slow


def send(port: int, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.login("app", API_KEY)
        session.send_message(plain(subject))


def test_every_worker_listens_a_dead_one_is_replaced_and_gunicorn_stops_it_all(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    port = free_port()
    env = seeded_env(real_fake, tmp_path, MAILER_SMTP_PORT=str(port), ZOHO_RATE_LIMITS="off")
    server = start(servers, env, tmp_path, workers=2)
    server.wait_until(lambda: server.log().count("smtp listening") >= 2, what="both listeners")
    for i in range(6):
        send(port, f"spread-{i}")
    os.kill(server.worker_pids()[0], signal.SIGKILL)
    # A connection waiting in the dead worker's own queue at that instant is reset (its client
    # retries, as SMTP clients do); once the master has reaped it, the others take them all.
    server.wait_until(lambda: "was sent SIGKILL" in server.log(), what="the worker reaped")
    for i in range(6):  # the other worker answers; gunicorn starts a new one
        send(port, f"after-kill-{i}")
    server.wait_until(lambda: server.log().count("smtp listening") >= 3, what="a new listener")
    server.wait_until(lambda: len(real_fake.sent) == 12, what="all 12 delivered", timeout=30)
    server.stop()
    with socket.socket() as probe:  # nothing listens once gunicorn stopped
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_kill_9_of_the_whole_gunicorn_right_after_250_loses_nothing(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    port = free_port()
    env = seeded_env(
        real_fake,
        tmp_path,
        MAILER_SMTP_PORT=str(port),
        ZOHO_RATE_LIMITS="off",
        MAILER_RETRY_SECONDS="0.5",
    )
    real_fake.mail_down = True  # so that nothing goes out before the kill
    first = start(servers, env, tmp_path, workers=2)
    first.wait_until(lambda: first.log().count("smtp listening") >= 2, what="both listeners")
    for i in range(5):
        send(port, f"crash-{i}")
    first.kill_all()  # right after the last 250
    assert real_fake.sent == []
    real_fake.mail_down = False
    second = start(servers, env, tmp_path, workers=2)
    second.wait_until(lambda: len(real_fake.sent) == 5, what="all 5 delivered", timeout=30)
    assert sorted(s["subject"] for s in real_fake.sent) == [f"crash-{i}" for i in range(5)]
