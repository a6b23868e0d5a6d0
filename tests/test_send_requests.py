"""The provider-grade send API: full mapping, attachments, idempotency, unexpected errors."""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from mailer.config.settings import Settings
from tests.conftest import MESSAGE, FakeClock, auth_header, send
from tests.fake_zoho import ACCOUNT_ID, ALIAS, FakeZoho

Connected = tuple[Flask, FlaskClient, FakeZoho]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_full_message_arrives_with_every_field_mapped(connected: Connected) -> None:
    _, client, fake = connected
    response = send(
        client,
        {
            "to": ["Ann Lee <ann@example.com>", "bob@example.com"],
            "cc": "carl@example.com",
            "bcc": ["dora@example.com"],
            "from": ALIAS,
            "subject": "Rechnung für Ärger ☃",
            "html": "<h1>Invoice</h1>",
            "attachments": [
                {
                    "filename": "invoice.pdf",
                    "content": base64.b64encode(PDF).decode(),
                    "content_type": "application/pdf",
                }
            ],
        },
    )
    assert response.status_code == 200, response.get_json()
    [upload] = fake.uploads
    assert upload == [("invoice.pdf", PDF, "application/pdf")]
    [call] = [c for c in fake.mail_calls if c.path.endswith("/attachments")]
    assert call.path == f"/api/accounts/{ACCOUNT_ID}/messages/attachments"
    assert call.form == {"uploadType": "multipart"}
    [sent] = fake.sent
    [attachment] = sent.pop("attachments")
    assert attachment["attachmentName"] == "invoice.pdf"
    assert attachment["storeName"].isdigit() and attachment["attachmentPath"].startswith("/Mail/")
    assert sent == {
        "fromAddress": ALIAS,
        "toAddress": "Ann Lee <ann@example.com>,bob@example.com",
        "ccAddress": "carl@example.com",
        "bccAddress": "dora@example.com",
        "subject": "Rechnung für Ärger ☃",
        "content": "<h1>Invoice</h1>",
        "mailFormat": "html",
    }


def test_several_attachments_go_up_in_one_upload(connected: Connected) -> None:
    _, client, fake = connected
    files = [
        {"filename": f"f{i}.txt", "content": base64.b64encode(b"x" * i).decode()} for i in range(3)
    ]
    assert send(client, {**MESSAGE, "attachments": files}).status_code == 200
    assert len(fake.uploads) == 1 and len(fake.uploads[0]) == 3
    assert len(fake.sent[0]["attachments"]) == 3


def test_a_display_name_that_needs_quoting_is_quoted(connected: Connected) -> None:
    _, client, fake = connected
    assert send(client, {**MESSAGE, "to": '"Lee, Ann" <ann@example.com>'}).status_code == 200
    assert fake.sent[0]["toAddress"] == '"Lee, Ann" <ann@example.com>'


def test_the_same_idempotency_key_and_body_send_once_and_answer_the_same(
    connected: Connected,
) -> None:
    _, client, fake = connected
    first = send(client, idempotency_key="order-42")
    second = send(
        client,
        {"text": "hi", "subject": "Hello", "to": "paula@example.com"},
        idempotency_key="order-42",
    )
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(fake.sent) == 1


def test_the_same_key_with_another_body_is_a_conflict(connected: Connected) -> None:
    _, client, fake = connected
    send(client, idempotency_key="order-42")
    other = send(client, {**MESSAGE, "subject": "Other"}, idempotency_key="order-42")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert len(fake.sent) == 1


def test_a_key_still_in_flight_is_a_conflict(connected: Connected) -> None:
    _, client, fake = connected
    send(client)  # account looked up
    fake.mail_delay_seconds = 0.5
    calls_before = len(fake.mail_calls)
    answers: list[int] = []
    first = threading.Thread(
        target=lambda: answers.append(send(client, idempotency_key="k1").status_code)
    )
    first.start()
    while len(fake.mail_calls) == calls_before:  # the first request has reached Zoho
        threading.Event().wait(0.01)
    second = send(client, idempotency_key="k1")
    first.join()
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "idempotency_in_progress"
    assert answers == [200]
    assert len(fake.sent) == 2


def test_keys_expire_after_24_hours(connected: Connected, clock: FakeClock) -> None:
    _, client, fake = connected
    send(client, idempotency_key="k1")
    clock.advance(24 * 3600 + 1)
    assert send(client, idempotency_key="k1").headers.get("Idempotent-Replayed") is None
    assert len(fake.sent) == 2


def test_a_queued_messages_key_answers_its_current_state(
    connected: Connected, clock: FakeClock
) -> None:
    app, client, fake = connected
    send(client)
    fake.mail_failures.append("500")
    first = send(client, idempotency_key="k1")
    assert first.status_code == 202
    again = send(client, idempotency_key="k1")
    assert again.status_code == 202 and again.get_json() == first.get_json()
    clock.advance(31)
    app.extensions["mailer"].jobs.deliver()
    later = send(client, idempotency_key="k1")
    assert later.status_code == 200
    assert later.get_json()["id"] == first.get_json()["id"]
    assert later.get_json()["status"] == "sent"
    assert len(fake.sent) == 2


def test_a_final_rejection_is_kept_for_the_key(connected: Connected) -> None:
    _, client, fake = connected
    send(client)
    fake.mail_failures.append("reject:INVALID_DATA")
    first = send(client, idempotency_key="k1")
    again = send(client, idempotency_key="k1")
    assert first.status_code == again.status_code == 502
    assert again.get_json() == first.get_json()
    assert len(fake.sent) == 1


def test_a_claim_left_by_a_dead_worker_lapses(connected: Connected, clock: FakeClock) -> None:
    app, client, _fake = connected
    from mailer.api.idempotency import body_fingerprint

    now = clock.now()
    app.extensions["mailer"].storage.idempotency.claim(
        "k1", body_fingerprint(MESSAGE), now=now, leased_until=now + 300, expires_at=now + 86400
    )
    assert send(client, idempotency_key="k1").status_code == 409
    clock.advance(301)
    assert send(client, idempotency_key="k1").status_code == 200


def test_a_bad_idempotency_key_is_refused(connected: Connected) -> None:
    _, client, fake = connected
    for key in ("x" * 256, "has space", "tab\there"):
        response = send(client, idempotency_key=key)
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "Idempotency-Key"
    assert fake.sent == []


def test_an_unexpected_exception_is_500_json_with_the_request_id(
    make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(transport="outbox")
    _, client = make_app(settings)
    with sqlite3.connect(settings.db) as damage:  # someone broke the state file
        damage.execute("DROP TABLE messages")
    response = client.post(
        "/api/email/send", json=MESSAGE, headers={**auth_header(), "X-Request-ID": "req-7"}
    )
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal_error" and error["request_id"] == "req-7"
    assert "req-7" in error["message"]
