"""The /api/email endpoints over the Flask test client, with real HTTP to the fake Zoho."""

from __future__ import annotations

import email
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config.settings import Settings
from tests.conftest import API_KEY, MESSAGE, OTHER_API_KEY, FakeClock, auth_header, send
from tests.fake_zoho import ACCOUNT_ID, ALIAS, PRIMARY, FakeZoho

Connected = tuple[Flask, FlaskClient, FakeZoho]


def test_a_send_reaches_zoho_with_the_token_header_and_the_stored_account(
    connected: Connected,
) -> None:
    app, client, fake = connected
    response = send(client, {**MESSAGE, "to": ["Ann Lee <ann@example.com>", "bob@example.com"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "sent"
    assert body["id"].startswith("msg_")
    assert body["zoho_message_id"].isdigit()
    assert body["mail_id"].startswith("<")
    [call] = [c for c in fake.mail_calls if c.path.endswith("/messages")]
    assert call.path == f"/api/accounts/{ACCOUNT_ID}/messages"
    assert call.headers["Authorization"].startswith("Zoho-oauthtoken 1000.")
    assert fake.sent[0] == {
        "fromAddress": PRIMARY,
        "toAddress": "Ann Lee <ann@example.com>,bob@example.com",
        "subject": "Hello",
        "content": "hi",
        "mailFormat": "plaintext",
    }
    send(client)
    accounts_lookups = [c for c in fake.mail_calls if c.path == "/api/accounts"]
    assert len(accounts_lookups) == 1  # looked up once, then read from the store
    assert app.extensions["mailer"].storage.mailboxes.get("default").account_id == ACCOUNT_ID


def test_html_wins_and_an_alias_may_send(connected: Connected) -> None:
    _, client, fake = connected
    response = send(client, {**MESSAGE, "from": ALIAS, "html": "<p>hi</p>", "cc": "c@example.com"})
    assert response.status_code == 200
    assert fake.sent[0]["content"] == "<p>hi</p>"
    assert fake.sent[0]["mailFormat"] == "html"
    assert fake.sent[0]["fromAddress"] == ALIAS
    assert fake.sent[0]["ccAddress"] == "c@example.com"


def test_a_sender_that_is_not_allowed_is_refused_before_zoho(connected: Connected) -> None:
    _, client, fake = connected
    response = send(client, {**MESSAGE, "from": "ceo@elsewhere.example"})
    assert response.status_code == 403
    assert response.get_json()["error"]["field"] == "from"
    assert response.get_json()["error"]["code"] == "sender_not_allowed"
    assert fake.sent == []


def test_an_alias_added_in_zoho_is_found_by_a_fresh_lookup_at_most_once_a_minute(
    connected: Connected, clock: FakeClock
) -> None:
    _, client, fake = connected
    send(client)
    fake.send_as.append("new@zylker.com")
    too_soon = send(client, {**MESSAGE, "from": "new@zylker.com"})
    assert too_soon.get_json()["error"]["code"] == "sender_not_allowed"
    clock.advance(61)
    assert send(client, {**MESSAGE, "from": "new@zylker.com"}).status_code == 200
    assert len([c for c in fake.mail_calls if c.path == "/api/accounts"]) == 2


def test_a_rejected_token_is_renewed_once_and_the_send_retried(connected: Connected) -> None:
    _, client, fake = connected
    fake.expire_access_tokens()
    assert send(client).status_code == 200
    assert len(fake.refresh_calls()) == 2
    assert len(fake.sent) == 1


@pytest.mark.parametrize(
    ("failure", "code"),
    [("500", "zoho_unavailable"), ("timeout", "zoho_timeout"), ("throttle", "zoho_throttled")],
)
def test_a_zoho_mail_failure_queues_the_message_and_says_why(
    connected: Connected, failure: str, code: str
) -> None:
    _, client, fake = connected
    send(client)  # the account lookup is done
    fake.mail_failures.append(failure)
    response = send(client)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    view = client.get(f"/api/email/messages/{response.get_json()['id']}", headers=auth_header())
    assert view.get_json()["status"] == "queued"
    assert view.get_json()["last_error"]["code"] == code


def test_a_zoho_validation_code_fails_at_once_with_zohos_code(connected: Connected) -> None:
    _, client, fake = connected
    send(client)
    fake.mail_failures.append("reject:INVALID_DATA")
    response = send(client)
    assert response.status_code == 502
    body = response.get_json()
    assert body["error"]["code"] == "zoho_rejected"
    assert body["error"]["zoho_error_code"] == "INVALID_DATA"
    view = client.get(f"/api/email/messages/{body['id']}", headers=auth_header()).get_json()
    assert view["status"] == "failed" and view["attempts"] == 1
    assert view["last_error"]["zoho_error_code"] == "INVALID_DATA"


def test_a_zoho_rejection_carries_its_code_and_who_can_fix_it(connected: Connected) -> None:
    _, client, fake = connected
    send(client)
    fake.mail_failures.append("reject:EXTRA_KEY_FOUND_IN_JSON")
    error = send(client).get_json()["error"]
    assert error["zoho_error_code"] == "EXTRA_KEY_FOUND_IN_JSON"
    assert error["caller_can_fix"] is False


def test_either_of_two_keys_works_so_keys_can_rotate(connected: Connected) -> None:
    _, client, _ = connected
    assert send(client, headers=auth_header(API_KEY)).status_code == 200
    assert send(client, headers=auth_header(OTHER_API_KEY)).status_code == 200


def test_status_with_a_key_says_ready_and_when_the_token_is_renewed(
    connected: Connected,
) -> None:
    """(Without a key it says only ready and why: the security suite.)"""
    _, client, _ = connected
    detailed = client.get("/api/email/status", headers=auth_header()).get_json()
    assert detailed["ready"] is True
    assert detailed["transport"] == "zoho"
    assert detailed["token_expires_at"].endswith("Z")
    assert detailed["next_renewal_at"].endswith("Z")
    assert detailed["last_renewal"]["outcome"] == "renewed"


def test_a_token_endpoint_that_is_down_queues_sends_and_status_says_when_it_retries(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token())
    app, client = make_app(settings)
    fake_zoho.token_failures.append("500")
    app.extensions["mailer"].jobs.startup()
    response = send(client)
    assert response.status_code == 202
    view = client.get(f"/api/email/messages/{response.get_json()['id']}", headers=auth_header())
    assert view.get_json()["last_error"]["code"] == "token_unavailable"
    assert len(fake_zoho.token_calls) == 1  # the send did not hammer the failing endpoint
    status = client.get("/api/email/status")
    assert status.status_code == 503
    assert "next try" in status.get_json()["reason"]


def test_every_answer_carries_a_request_id(connected: Connected) -> None:
    _, client, _ = connected
    assert (
        send(client, headers={**auth_header(), "X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    assert len(client.get("/api/email/status").headers["X-Request-ID"]) == 32
    bogus = client.get("/api/email/status", headers={"X-Request-ID": "bad id\twith junk"})
    assert bogus.headers["X-Request-ID"] != "bad id\twith junk"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/api/email/send", 405, "method_not_allowed"),
        ("DELETE", "/api/email/status", 405, "method_not_allowed"),
    ],
)
def test_werkzeug_errors_are_json_too(
    connected: Connected, method: str, path: str, status: int, code: str
) -> None:
    _, client, _ = connected
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_not_json_is_415_and_broken_json_is_400(connected: Connected) -> None:
    _, client, fake = connected
    plain = client.post(
        "/api/email/send",
        data="to=x",
        headers=auth_header(),
        content_type="application/x-www-form-urlencoded",
    )
    assert plain.status_code == 415
    assert plain.get_json()["error"]["code"] == "unsupported_media_type"
    broken = client.post(
        "/api/email/send", data="{nope", headers=auth_header(), content_type="application/json"
    )
    assert broken.status_code == 400
    assert broken.get_json()["error"]["code"] == "invalid_json"
    nan = client.post(
        "/api/email/send",
        data='{"to": NaN}',
        headers=auth_header(),
        content_type="application/json",
    )
    assert nan.status_code == 400
    assert fake.sent == []


def test_a_body_over_the_limit_is_413_before_it_is_read(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), max_request_mb=1
    )
    _, client = make_app(settings)
    big = json.dumps({**MESSAGE, "text": "x" * (1024 * 1024)})
    response = client.post(
        "/api/email/send", data=big, headers=auth_header(), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert fake_zoho.sent == []


def test_the_dry_run_writes_an_eml_and_needs_no_key(
    tmp_path: Path, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(transport="outbox", api_keys=(), admin_key=None)
    _, client = make_app(settings)
    status = client.get("/api/email/status")
    assert status.status_code == 200
    assert "dry run" in status.get_json()["reason"]
    response = client.post(
        "/api/email/send", json={**MESSAGE, "to": "Zoë <zoe@example.com>", "subject": "Grüße"}
    )
    assert response.status_code == 200
    assert response.get_json()["dry_run"] is True
    [written] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Grüße"
    assert parsed["To"] == "Zoë <zoe@example.com>"
    assert parsed.get_content().strip() == "hi"
    assert client.get("/api/email/auth").status_code == 403


def test_the_dry_run_with_keys_requires_one(
    make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    _, client = make_app(make_settings(transport="outbox"))
    assert client.post("/api/email/send", json=MESSAGE).status_code == 401
    assert send(client).status_code == 200
