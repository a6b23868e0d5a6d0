"""Webhooks: stored with their cause, signed as Standard Webhooks say, retried with back-off for
24 hours under the same webhook-id, across a restart; private destinations refused.

The receiver is a real HTTP server on loopback that verifies each signature with the recipe
docs/api.md gives (``verify`` below is that recipe, word for word).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from mailer.config import Settings, SettingsError, from_env
from tests.conftest import MESSAGE, FakeClock, SecretGuard, admin_header, auth_header, follow_link
from tests.fake_zoho import FakeZoho

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The recipe of docs/api.md: is this request from the gateway?"""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, given.removeprefix("v1,"))
        for given in headers["webhook-signature"].split()
    )


class Receiver:
    """An application's webhook endpoint: verifies, records, and answers as told."""

    def __init__(self) -> None:
        self.answer = 200
        self.received: list[dict[str, Any]] = []
        self.attempts: list[str] = []  # webhook-id of every request, verified or not
        app = Flask("receiver")

        @app.post("/hooks/mail")
        def hook() -> Response:
            body = request.get_data()
            self.attempts.append(request.headers["webhook-id"])
            if self.answer == 307:
                return Response(status=307, headers={"Location": "/elsewhere"})
            if self.answer != 200:
                return Response(status=self.answer)
            assert verify(SECRET, request.headers, body), "bad signature"
            self.received.append({**json.loads(body), "id": request.headers["webhook-id"]})
            return Response(status=204)

        @app.post("/elsewhere")
        def elsewhere() -> Response:
            raise AssertionError("a redirect was followed")

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/mail"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(secret_guard: SecretGuard) -> Iterator[Receiver]:
    secret_guard.secrets.add(SECRET)
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def hooked(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    receiver: Receiver,
) -> Callable[[], tuple[Flask, Any]]:
    """Start a gateway (again, on the same state) with webhooks to the receiver."""
    refresh = fake_zoho.issue_refresh_token()

    def start() -> tuple[Flask, Any]:
        settings = make_settings(
            fake_zoho,
            zoho_refresh_token=refresh,
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            webhook_allow_private=True,
        )
        app, client = make_app(settings)
        app.extensions["mailer"].jobs.startup()
        return app, client

    return start


def test_sent_and_failed_messages_are_posted_signed(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver, fake_zoho: FakeZoho
) -> None:
    app, client = hooked()
    sent = client.post("/api/email/send", json={**MESSAGE, "tags": ["t1"]}, headers=auth_header())
    fake_zoho.mail_failures.append("reject:INVALID_DATA")
    failed = client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    app.extensions["mailer"].jobs.deliver()
    by_type = {event["type"]: event for event in receiver.received}
    assert set(by_type) == {"message.sent", "message.failed"}
    assert by_type["message.sent"]["data"]["id"] == sent.get_json()["id"]
    assert by_type["message.sent"]["data"]["status"] == "sent"
    assert by_type["message.sent"]["data"]["tags"] == ["t1"]
    assert by_type["message.failed"]["data"]["id"] == failed.get_json()["id"]
    assert by_type["message.failed"]["data"]["last_error"]["zoho_error_code"] == "INVALID_DATA"
    assert all(e["id"].startswith("evt_") and e["timestamp"] for e in receiver.received)


def test_a_receiver_down_for_an_hour_gets_it_after_with_the_same_id(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver, clock: FakeClock
) -> None:
    app, client = hooked()
    receiver.answer = 503
    client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    for _ in range(120):  # an hour, a delivery pass every 30 s
        app.extensions["mailer"].jobs.deliver()
        clock.advance(30)
    tries = len(receiver.attempts)
    assert 6 <= tries <= 8  # 30 s, then doubling: within a minute first, then backing off
    receiver.answer = 200
    clock.advance(3600)
    app.extensions["mailer"].jobs.deliver()
    assert len(receiver.received) == 1
    assert set(receiver.attempts) == {receiver.received[0]["id"]}


def test_an_event_survives_a_restart_and_is_given_up_after_24_hours(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver, clock: FakeClock
) -> None:
    first, client = hooked()
    receiver.answer = 500
    client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    first.extensions["mailer"].jobs.deliver()
    second, _ = hooked()  # a restart: the event is in the state store
    receiver.answer = 200
    clock.advance(60)
    second.extensions["mailer"].jobs.deliver()
    assert [e["type"] for e in receiver.received] == ["message.sent"]

    receiver.answer = 500
    client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    for _ in range(30):
        clock.advance(3600)
        second.extensions["mailer"].jobs.deliver()
    tries = len(receiver.attempts)
    clock.advance(3600)
    second.extensions["mailer"].jobs.deliver()
    assert len(receiver.attempts) == tries  # given up: no attempt after 24 hours
    assert second.extensions["mailer"].storage.webhooks.pending() == 0


def test_a_refused_refresh_token_posts_needs_reconnect_once(
    hooked: Callable[[], tuple[Flask, Any]],
    receiver: Receiver,
    fake_zoho: FakeZoho,
    clock: FakeClock,
) -> None:
    app, _ = hooked()
    stored = app.extensions["mailer"].storage.mailboxes.get("default")
    fake_zoho.revoke(stored.refresh_token)
    for _ in range(3):
        clock.advance(3600)
        app.extensions["mailer"].jobs.tick()
    app.extensions["mailer"].jobs.deliver()
    assert [e["type"] for e in receiver.received] == ["mailbox.needs_reconnect"]
    data = receiver.received[0]["data"]
    assert (data["name"], data["status"]) == ("default", "needs_reconnect")


def test_redirects_are_not_followed(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver
) -> None:
    app, client = hooked()
    receiver.answer = 307
    client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    app.extensions["mailer"].jobs.deliver()
    assert len(receiver.attempts) == 1 and receiver.received == []


def test_private_destinations_are_refused_at_start_and_at_delivery(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    receiver: Receiver,
) -> None:
    with pytest.raises(SettingsError, match="MAILER_WEBHOOK_ALLOW_PRIVATE"):
        from_env({"MAILER_WEBHOOK_URL": receiver.url, "MAILER_WEBHOOK_SECRET": SECRET})
    allowed = from_env(
        {
            "MAILER_WEBHOOK_URL": receiver.url,
            "MAILER_WEBHOOK_SECRET": SECRET,
            "MAILER_WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    assert allowed.webhook_allow_private
    assert SECRET not in repr(allowed)
    with pytest.raises(SettingsError, match="MAILER_WEBHOOK_SECRET"):
        from_env({"MAILER_WEBHOOK_URL": "https://example.com/h", "MAILER_WEBHOOK_SECRET": "short"})
    # Settings made without the start-up check (as if DNS changed since): each delivery checks.
    settings = make_settings(
        fake_zoho,
        zoho_refresh_token=fake_zoho.issue_refresh_token(),
        webhook_url=receiver.url,
        webhook_secret=SECRET,
    )
    app, client = make_app(settings)
    client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    app.extensions["mailer"].jobs.deliver()
    assert receiver.attempts == []


def test_a_connection_through_a_link_posts_mailbox_connected(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver, fake_zoho: FakeZoho
) -> None:
    app, client = hooked()
    created = client.post(
        "/api/email/mailboxes", json={"name": "shop"}, headers=admin_header()
    ).get_json()
    fake_zoho.consent_as = "orders@shop.example"
    assert follow_link(client, fake_zoho, created["connect_url"]).status_code == 200
    app.extensions["mailer"].jobs.deliver()
    assert [e["type"] for e in receiver.received] == ["mailbox.connected"]
    assert receiver.received[0]["data"] == {
        "name": "shop",
        "status": "connected",
        "address": "orders@shop.example",
    }


def test_messages_failed_by_deleting_their_mailbox_are_posted_failed(
    hooked: Callable[[], tuple[Flask, Any]], receiver: Receiver, fake_zoho: FakeZoho
) -> None:
    app, client = hooked()
    token = fake_zoho.add_account("billing@acme.example")
    client.post(
        "/api/email/mailboxes",
        json={"name": "billing", "refresh_token": token},
        headers=admin_header(),
    )
    key = client.post("/api/email/mailboxes/billing/keys", headers=admin_header()).json["key"]
    fake_zoho.account_for(token).mail_down = True
    waiting = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key)).get_json()
    assert waiting["status"] == "queued"
    assert client.delete("/api/email/mailboxes/billing", headers=admin_header()).status_code == 204
    app.extensions["mailer"].jobs.deliver()
    [event] = [e for e in receiver.received if e["data"].get("id") == waiting["id"]]
    assert event["type"] == "message.failed"
    assert event["data"]["last_error"]["code"] == "mailbox_deleted"
    assert event["data"]["mailbox"] == "billing"
