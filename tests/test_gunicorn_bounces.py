"""Bounces end to end under gunicorn, in real time, on both engines (PostgreSQL: two hosts of
three workers; SQLite: one host of three workers on one file): a hard bounce in the fake's
Inbox after a send is found within one poll; the message is bounced; its webhook is signed and
sent once; the address is suppressed (HTTP 422, SMTP 550 5.1.1) until removed; a soft bounce
is kept and suppresses nothing; a bounce of no message of ours and an ordinary mail change
nothing; no host or worker fetches or counts one bounce twice."""

from __future__ import annotations

import smtplib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.bounce_mail import ordinary, report
from tests.conftest import API_KEY, MESSAGE, admin_header, auth_header
from tests.fake_zoho import ACCOUNT_ID, FakeZoho
from tests.fake_zoho_read import READ_SCOPES, SEND_SCOPES
from tests.gunicorn_server import Gunicorn, env_for, free_port, start, two_hosts
from tests.postgres import PostgresServer
from tests.test_webhooks import SECRET, Receiver, receiver  # noqa: F401 - the receiver fixture

pytestmark = pytest.mark.slow

POLL_SECONDS = 10


def post(host: Gunicorn, to: str) -> requests.Response:
    return requests.post(
        f"{host.url}/api/email/send", json={**MESSAGE, "to": to}, headers=auth_header(), timeout=15
    )


def message(host: Gunicorn, message_id: str) -> dict[str, Any]:
    answer = requests.get(
        f"{host.url}/api/email/messages/{message_id}", headers=auth_header(), timeout=15
    )
    body: dict[str, Any] = answer.json()
    return body


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def rcpt(port: int, to: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as session:
        session.login("app", API_KEY)
        session.mail("rebecca@zylker.com")
        return session.rcpt(to)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_hard_bounce_is_found_tied_signed_once_and_suppressed_across_hosts(
    engine: str,
    real_fake: FakeZoho,
    tmp_path: Path,
    servers: list[Gunicorn],
    receiver: Receiver,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    refresh = real_fake.issue_refresh_token(f"{SEND_SCOPES} {READ_SCOPES}")
    smtp_port = free_port()
    env = env_for(
        real_fake,
        tmp_path,
        ZOHO_REFRESH_TOKEN=refresh,
        ZOHO_ACCOUNT_ID=ACCOUNT_ID,
        ZOHO_RATE_LIMITS="off",
        MAILER_BOUNCES="on",
        MAILER_BOUNCE_POLL_SECONDS=str(POLL_SECONDS),
        MAILER_WEBHOOK_URL=receiver.url,
        MAILER_WEBHOOK_SECRET=SECRET,
        MAILER_WEBHOOK_ALLOW_PRIVATE="true",
        MAILER_SMTP_PORT=str(smtp_port),
    )
    if engine == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        env["MAILER_DB"] = postgres.new_database()
        a, b = two_hosts(servers, env, tmp_path)
    else:
        a = b = start(servers, env, tmp_path, workers=3)
    gone, busy, kept = (post(h, to).json() for h, to in ((a, "gone@example.com"),
                        (b, "busy@example.com"), (a, "paula@example.com")))  # fmt: skip
    assert {gone["status"], busy["status"], kept["status"]} == {"sent"}
    real_fake.deliver(refresh, report("gone@example.com", gone["mail_id"]))
    real_fake.deliver(refresh, report("busy@example.com", busy["mail_id"], status="4.4.1"))
    real_fake.deliver(refresh, report("stranger@example.com", "<not-ours@example.net>"))
    real_fake.deliver(refresh, ordinary())
    delivered_at = time.monotonic()

    wait_for(lambda: message(b, gone["id"])["status"] == "bounced", "the hard bounce")
    found_after = time.monotonic() - delivered_at
    wait_for(lambda: message(a, busy["id"])["bounces"] != [], "the soft bounce")

    assert found_after <= POLL_SECONDS + 6  # one poll, and the scheduler's look every 5 s
    hard = message(a, gone["id"])["bounces"]
    assert [(x["recipient"], x["type"], x["status"]) for x in hard] == [
        ("gone@example.com", "hard", "5.1.1")
    ]
    soft = message(b, busy["id"])
    assert soft["status"] == "sent" and soft["bounces"][0]["type"] == "soft"
    assert message(a, kept["id"])["status"] == "sent"
    listed = requests.get(
        f"{a.url}/api/email/mailboxes/default/suppressions", headers=admin_header(), timeout=15
    ).json()["suppressions"]
    assert [(s["address"], s["reason"]) for s in listed] == [("gone@example.com", "hard_bounce")]
    refused = post(b, "gone@example.com")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "recipient_suppressed"
    code, _ = rcpt(smtp_port, "gone@example.com")
    assert code == 550
    assert rcpt(smtp_port, "busy@example.com")[0] == 250
    # Signed (the receiver verifies every one) and sent once each.
    wait_for(lambda: len(bounced_events(receiver)) >= 2, "both webhooks")
    fetched = Counter(c.path for c in real_fake.mail_calls if c.path.endswith("/originalmessage"))
    assert sorted(fetched.values()) == [1, 1, 1]  # the three that look like bounces, once each
    removed = requests.delete(
        f"{a.url}/api/email/mailboxes/default/suppressions/gone@example.com",
        headers=admin_header(),
        timeout=15,
    )
    assert removed.status_code == 204
    assert post(b, "gone@example.com").status_code == 200
    events = bounced_events(receiver)
    assert sorted(e["data"]["id"] for e in events) == sorted([gone["id"], busy["id"]])
    assert len({e["id"] for e in events}) == 2


def bounced_events(server: Receiver) -> list[dict[str, Any]]:
    return [e for e in server.received if e["type"] == "message.bounced"]
