"""Zoho's answers that no document lists, on both engines: none fails a message for good; enough
of them in a row (or one that says the account may not send) hold the mailbox, which keeps
accepting, calls Zoho only for probes, and ends by a probe Zoho takes or by an admin's resume;
every held message then goes out exactly once. Zoho's documented validation codes still fail
only their message."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from tests.conftest import MESSAGE, FakeClock, admin_header, auth_header
from tests.fake_zoho import UNKNOWN_ANSWERS, FakeZoho

Gateway = tuple[Flask, FlaskClient, FakeZoho]
PROBE_MINUTES = 15
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
VALIDATION_CODES = (
    "INVALID_DATA",
    "EXTRA_KEY_FOUND_IN_JSON",
    "PATTERN_NOT_MATCHED",
    "LESS_THAN_MIN_OCCURANCE",
    "JSON_PARSE_ERROR",
)


@pytest.fixture
def gateway(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> Gateway:
    """The environment's mailbox connected on either engine; webhooks stored (not delivered)."""
    settings = make_settings(
        fake_zoho,
        zoho_refresh_token=fake_zoho.issue_refresh_token(),
        db=state_location,
        hold_after=3,
        hold_probe_minutes=PROBE_MINUTES,
        max_attempts=50,
        webhook_url="http://127.0.0.1:9/hooks/mail",  # nothing listens: events stay stored
        webhook_secret=SECRET,
        webhook_allow_private=True,
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    app.extensions["mailer"].transport.account()  # looked up once, before the test begins
    return app, client, fake_zoho


def send(client: FlaskClient, subject: str) -> dict[str, Any]:
    answer = client.post(
        "/api/email/send", json={**MESSAGE, "subject": subject}, headers=auth_header()
    )
    assert answer.status_code in (200, 202, 502), answer.get_json()
    return {"status_code": answer.status_code, **answer.get_json()}


def mailbox(client: FlaskClient) -> dict[str, Any]:
    view: dict[str, Any] = client.get("/api/email/mailboxes/default", headers=admin_header()).json
    return view


def message(client: FlaskClient, message_id: str) -> dict[str, Any]:
    view: dict[str, Any] = client.get(
        f"/api/email/messages/{message_id}", headers=auth_header()
    ).json
    return view


def events(app: Flask) -> list[str]:
    """The types of the stored webhook events, oldest first."""
    with app.extensions["mailer"].storage.database.read() as tx:
        rows = tx.rows("SELECT body FROM webhook_events ORDER BY created_at")
    return [json.loads(row["body"])["type"] for row in rows]


def deliver(app: Flask, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    app.extensions["mailer"].jobs.deliver()


@pytest.mark.parametrize("answer", [a for a in UNKNOWN_ANSWERS if a != "blocked"])
def test_an_answer_without_a_rule_fails_nothing_and_is_kept_for_the_admin(
    gateway: Gateway, clock: FakeClock, answer: str
) -> None:
    app, client, fake = gateway
    fake.mail_failures.append(answer)
    accepted = send(client, "first")
    assert accepted["status_code"] == 202 and accepted["status"] == "queued"
    view = message(client, accepted["id"])
    assert view["status"] == "queued"
    assert view["last_error"]["code"] == "zoho_unknown_answer"
    box = mailbox(client)
    assert box["hold"] is None
    [kept] = box["zoho_answers"]
    assert kept["call"] == "send" and kept["http_status"] in (200, 400, 403)
    assert "message.failed" not in events(app)
    deliver(app, clock, 60)
    assert message(client, accepted["id"])["status"] == "sent"
    assert len(fake.sent) == 1


def test_one_message_meeting_unknown_answers_again_and_again_holds_nothing(
    gateway: Gateway, clock: FakeClock
) -> None:
    app, client, fake = gateway
    fake.mail_unknown = "unknown:400:NEW_UNDOCUMENTED_CODE"
    accepted = send(client, "alone")
    for _ in range(4):
        deliver(app, clock, 3600)
    assert mailbox(client)["hold"] is None
    assert message(client, accepted["id"])["attempts"] == 5


def test_unknown_answers_in_a_row_hold_the_mailbox_which_accepts_probes_and_drains_once(
    gateway: Gateway, clock: FakeClock
) -> None:
    app, client, fake = gateway
    fake.mail_unknown = "unknown:400:NEW_UNDOCUMENTED_CODE"
    first = [send(client, f"before {i}")["id"] for i in range(3)]
    box = mailbox(client)
    assert box["hold"]["reason"] == "unknown_answers"
    assert box["hold"]["zoho"]["code"] == "NEW_UNDOCUMENTED_CODE"
    assert box["hold"]["zoho"]["http_status"] == 400
    assert len(box["zoho_answers"]) == 3
    status = client.get("/api/email/status", headers=auth_header())
    assert status.status_code == 503 and status.json["code"] == "mailbox_held"
    assert status.json["hold"]["zoho"]["description"] == "Something nobody documented"
    assert 'mailer_mailbox_held{mailbox="default"} 1.0' in client.get("/metrics").text
    assert events(app).count("mailbox.held") == 1
    calls = len(fake.mail_calls)
    later = [send(client, f"while held {i}") for i in range(2)]
    assert all(a["status_code"] == 202 and a["status"] == "queued" for a in later)
    deliver(app, clock, PROBE_MINUTES * 60 - 1)
    assert len(fake.mail_calls) == calls  # accepted, stored, nothing sent
    deliver(app, clock, 1)
    assert len(fake.mail_calls) == calls + 1  # one probe
    probed = fake.mail_calls[-1]
    assert probed.json is not None and probed.json["subject"].startswith("while held")
    assert mailbox(client)["hold"] is not None
    fake.mail_unknown = None
    deliver(app, clock, PROBE_MINUTES * 60)
    assert mailbox(client)["hold"] is None
    assert events(app).count("mailbox.resumed") == 1
    for _ in range(3):
        deliver(app, clock, 1)
    subjects = [m["subject"] for m in fake.sent]
    assert sorted(subjects) == sorted(
        [f"before {i}" for i in range(3)] + ["while held 0", "while held 1"]
    )
    assert all(message(client, i)["status"] == "sent" for i in first)
    assert client.get("/api/email/status", headers=auth_header()).status_code == 200
    assert 'mailer_mailbox_held{mailbox="default"} 0.0' in client.get("/metrics").text


def test_an_answer_that_says_the_account_may_not_send_holds_at_once_until_resumed(
    gateway: Gateway, clock: FakeClock
) -> None:
    app, client, fake = gateway
    fake.mail_unknown = "blocked"
    accepted = send(client, "blocked")
    assert accepted["status_code"] == 202
    hold = mailbox(client)["hold"]
    assert hold["reason"] == "account_blocked" and hold["zoho"]["code"] == "OUTGOING_BLOCKED"
    fake.mail_unknown = None  # Zoho unblocked the account; the next probe is 15 minutes away
    resumed = client.post("/api/email/mailboxes/default/resume", headers=admin_header())
    assert resumed.status_code == 200 and resumed.json["hold"] is None
    deliver(app, clock, 1)
    assert [m["subject"] for m in fake.sent] == ["blocked"]
    assert message(client, accepted["id"])["status"] == "sent"
    assert events(app).count("mailbox.held") == events(app).count("mailbox.resumed") == 1
    assert (
        client.post("/api/email/mailboxes/nobody/resume", headers=admin_header()).status_code == 404
    )


@pytest.mark.parametrize("code", VALIDATION_CODES)
def test_a_validation_code_fails_only_its_message_and_never_holds(
    gateway: Gateway, clock: FakeClock, code: str
) -> None:
    _, client, fake = gateway
    for i in range(4):
        fake.mail_failures.append(f"reject:{code}")
        failed = send(client, f"bad {i}")
        assert failed["status_code"] == 502 and failed["error"]["zoho_error_code"] == code
    box = mailbox(client)
    assert box["hold"] is None and box["zoho_answers"] == []
    assert send(client, "good")["status_code"] == 200


def test_the_account_look_ups_outgoing_blocked_holds_until_zoho_lifts_it(
    gateway: Gateway, clock: FakeClock
) -> None:
    app, client, fake = gateway
    fake.default_account.outgoing_blocked = True
    app.extensions["mailer"].transport.look_up_account()
    accepted = send(client, "while blocked")
    assert accepted["status_code"] == 202
    hold = mailbox(client)["hold"]
    assert hold["reason"] == "account_blocked" and hold["zoho"]["code"] == "outgoingBlocked"
    assert fake.sent == []
    fake.default_account.outgoing_blocked = False
    deliver(app, clock, PROBE_MINUTES * 60)
    assert [m["subject"] for m in fake.sent] == ["while blocked"]
    assert mailbox(client)["hold"] is None
