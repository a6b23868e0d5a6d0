"""Several mailboxes: the admin API, keys per mailbox, connect links, isolation, deletion.

Each mailbox is its own Zoho user at the fake (its own account id, address, send-as list and
token window); the gateway runs on the fake clock with its timed work inline.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import MESSAGE, FakeClock, admin_header, auth_header, follow_link
from tests.fake_zoho import FakeZoho

Gateway = tuple[Flask, FlaskClient, FakeZoho]


def add_mailbox(client: FlaskClient, fake: FakeZoho, name: str, address: str) -> dict[str, Any]:
    """A mailbox connected at once with a refresh token of a Zoho user of its own."""
    token = fake.add_account(address, [address, f"alias.{address}"])
    created = client.post(
        "/api/email/mailboxes",
        json={"name": name, "refresh_token": token, "accounts_server": fake.url},
        headers=admin_header(),
    )
    assert created.status_code == 201, created.get_json()
    return {**created.get_json(), "refresh_token": token}


def key_for(client: FlaskClient, name: str) -> str:
    issued = client.post(f"/api/email/mailboxes/{name}/keys", headers=admin_header())
    assert issued.status_code == 201
    key: str = issued.get_json()["key"]
    return key


# The admin API ---------------------------------------------------------------------------


def test_a_mailbox_added_with_a_refresh_token_is_connected_at_once(connected: Gateway) -> None:
    _, client, fake = connected
    created = add_mailbox(client, fake, "billing", "billing@acme.example")
    assert created["name"] == "billing"
    assert created["status"] == "connected"
    assert created["address"] == "billing@acme.example"
    assert created["send_as"] == ["billing@acme.example", "alias.billing@acme.example"]
    assert created["connect_url"].startswith("http://localhost:8000/api/email/connect/")
    assert created["token_expires_at"] is not None
    view = client.get("/api/email/mailboxes/billing", headers=admin_header()).get_json()
    assert view["status"] == "connected" and view["queue_depth"] == 0
    assert "access_token" not in str(view) and "refresh_token" not in view
    names = [
        m["name"]
        for m in client.get("/api/email/mailboxes", headers=admin_header()).json["mailboxes"]
    ]
    assert names == ["billing", "default"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "Bad Name"}, 400, "invalid_mailbox_name"),
        ({"name": "x" * 64}, 400, "invalid_mailbox_name"),
        ({"name": "ok", "colour": "red"}, 400, "unknown_field"),
        (
            {"name": "ok", "accounts_server": "https://evil.example"},
            400,
            "untrusted_accounts_server",
        ),
        ({"name": "ok", "from_address": "not an address"}, 400, "invalid_address"),
        ({"name": "ok", "refresh_token": 7}, 400, "invalid_refresh_token"),
        ({"name": "default"}, 409, "mailbox_exists"),
        (["not", "an", "object"], 400, "invalid_body"),
    ],
)
def test_bad_mailbox_requests_are_refused_and_store_nothing(
    connected: Gateway, body: object, status: int, code: str
) -> None:
    _, client, _ = connected
    answer = client.post("/api/email/mailboxes", json=body, headers=admin_header())
    assert answer.status_code == status
    assert answer.get_json()["error"]["code"] == code
    listed = client.get("/api/email/mailboxes", headers=admin_header()).get_json()["mailboxes"]
    assert [m["name"] for m in listed] == ["default"]


def test_a_taken_name_is_409_and_a_refused_refresh_token_stores_nothing(connected: Gateway) -> None:
    _, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    again = client.post("/api/email/mailboxes", json={"name": "billing"}, headers=admin_header())
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "mailbox_exists"
    revoked = fake.add_account("old@acme.example")
    fake.revoke(revoked)
    refused = client.post(
        "/api/email/mailboxes",
        json={"name": "old", "refresh_token": revoked},
        headers=admin_header(),
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "refresh_token_refused"
    assert client.get("/api/email/mailboxes/old", headers=admin_header()).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/email/mailboxes"),
        ("post", "/api/email/mailboxes"),
        ("get", "/api/email/mailboxes/default"),
        ("delete", "/api/email/mailboxes/default"),
        ("post", "/api/email/mailboxes/default/connect-link"),
        ("post", "/api/email/mailboxes/default/keys"),
        ("delete", "/api/email/mailboxes/default/keys/key_1"),
    ],
)
def test_the_admin_api_wants_the_admin_password_not_an_api_key(
    connected: Gateway, method: str, path: str
) -> None:
    _, client, _ = connected
    for headers in ({}, auth_header(), admin_header("wrong")):
        answer = getattr(client, method)(path, json={}, headers=headers)
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "admin_required"


# Keys and isolation ----------------------------------------------------------------------


def test_a_mailbox_key_sends_from_its_own_mailbox_only(connected: Gateway) -> None:
    _, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    key = key_for(client, "billing")
    sent = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key))
    assert sent.status_code == 200
    [body] = [b for b in fake.sent if b["fromAddress"] == "billing@acme.example"]
    assert body["toAddress"] == "paula@example.com"
    # Its send-as list is its own: the default mailbox's address is not among it.
    foreign = client.post(
        "/api/email/send", json={**MESSAGE, "from": "rebecca@zylker.com"}, headers=auth_header(key)
    )
    assert foreign.status_code == 403
    assert foreign.get_json()["error"]["code"] == "sender_not_allowed"


def test_every_route_a_key_reaches_sees_only_its_mailbox(connected: Gateway) -> None:
    _, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    billing_key = key_for(client, "billing")
    mine = client.post("/api/email/send", json=MESSAGE, headers=auth_header(billing_key)).get_json()
    theirs = client.post("/api/email/send", json=MESSAGE, headers=auth_header()).get_json()

    def view(message_id: str, key: str) -> int:
        path = f"/api/email/messages/{message_id}"
        return int(client.get(path, headers=auth_header(key)).status_code)

    assert view(mine["id"], billing_key) == 200
    assert view(theirs["id"], billing_key) == 404
    assert view(mine["id"], auth_header()["Authorization"][7:]) == 404
    status = client.get("/api/email/status", headers=auth_header(billing_key)).get_json()
    assert status["mailbox_name"] == "billing"
    assert status["mailbox"] == "billing@acme.example"
    default_status = client.get("/api/email/status", headers=auth_header()).get_json()
    assert default_status["mailbox_name"] == "default"


def test_idempotency_keys_are_per_mailbox(connected: Gateway) -> None:
    _, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    billing_key = key_for(client, "billing")
    same = {"Idempotency-Key": "order-42"}
    first = client.post("/api/email/send", json=MESSAGE, headers={**auth_header(), **same})
    other = client.post(
        "/api/email/send", json=MESSAGE, headers={**auth_header(billing_key), **same}
    )
    again = client.post(
        "/api/email/send", json=MESSAGE, headers={**auth_header(billing_key), **same}
    )
    assert first.get_json()["id"] != other.get_json()["id"]
    assert again.get_json()["id"] == other.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(fake.sent) == 2


def test_a_revoked_key_stops_at_the_next_request(connected: Gateway) -> None:
    _, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    issued = client.post("/api/email/mailboxes/billing/keys", headers=admin_header()).get_json()
    assert (
        client.post("/api/email/send", json=MESSAGE, headers=auth_header(issued["key"])).status_code
        == 200
    )
    gone = client.delete(
        f"/api/email/mailboxes/billing/keys/{issued['id']}", headers=admin_header()
    )
    assert gone.status_code == 204
    refused = client.post("/api/email/send", json=MESSAGE, headers=auth_header(issued["key"]))
    assert refused.status_code == 401
    again = client.delete(
        f"/api/email/mailboxes/billing/keys/{issued['id']}", headers=admin_header()
    )
    assert again.status_code == 404


def test_keys_are_stored_hashed(connected: Gateway) -> None:
    app, client, fake = connected
    add_mailbox(client, fake, "billing", "billing@acme.example")
    key = key_for(client, "billing")
    path = app.extensions["mailer"].storage.path
    assert key.encode() not in path.read_bytes()
    assert key.encode() not in (path.parent / (path.name + "-wal")).read_bytes()


# Connect links ---------------------------------------------------------------------------


def test_a_connect_link_connects_its_mailbox_without_the_password_once(
    connected: Gateway, clock: FakeClock
) -> None:
    _, client, fake = connected
    created = client.post(
        "/api/email/mailboxes",
        json={"name": "shop", "from_address": "orders@shop.example"},
        headers=admin_header(),
    ).get_json()
    assert created["status"] == "not_connected"
    key = key_for(client, "shop")
    waiting = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key))
    assert waiting.status_code == 503
    assert waiting.get_json()["error"]["code"] == "not_connected"

    fake.consent_as = "orders@shop.example"
    page = follow_link(client, fake, created["connect_url"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "orders@shop.example" in text and "shop" in text
    assert "ZOHO_REFRESH_TOKEN" not in text  # the gateway keeps it
    for token in fake.all_tokens:
        assert token not in text
    view = client.get("/api/email/mailboxes/shop", headers=admin_header()).get_json()
    assert view["status"] == "connected" and view["address"] == "orders@shop.example"
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header(key)).status_code == 200

    used = client.get(urlsplit(created["connect_url"]).path)
    assert used.status_code == 410
    assert used.get_json()["error"]["code"] == "connect_link_used"
    # The browser's page for it says so, and that the mailbox is connected.
    seen = client.get(urlsplit(created["connect_url"]).path, headers={"Accept": "text/html"})
    page_text = seen.get_data(as_text=True)
    assert seen.status_code == 410 and "<h1>This connect link was used</h1>" in page_text
    assert "mailbox shop is connected: it sends from orders@shop.example" in page_text
    assert "was not connected" not in page_text


def test_a_connect_link_expires_and_a_stranger_link_is_404(
    connected: Gateway, clock: FakeClock
) -> None:
    _, client, _ = connected
    client.post("/api/email/mailboxes", json={"name": "shop"}, headers=admin_header())
    link = client.post("/api/email/mailboxes/shop/connect-link", headers=admin_header())
    assert link.status_code == 201
    clock.advance(72 * 3600 + 1)
    expired = client.get(urlsplit(link.get_json()["connect_url"]).path)
    assert expired.status_code == 410
    assert expired.get_json()["error"]["code"] == "connect_link_expired"
    assert client.get("/api/email/connect/made-up").status_code == 404
    missing = client.post("/api/email/mailboxes/nobody/connect-link", headers=admin_header())
    assert missing.status_code == 404


def test_a_new_consent_revokes_the_mailboxs_previous_refresh_token(connected: Gateway) -> None:
    _, client, fake = connected
    created = add_mailbox(client, fake, "billing", "billing@acme.example")
    link = client.post("/api/email/mailboxes/billing/connect-link", headers=admin_header())
    fake.consent_as = "billing@acme.example"
    assert follow_link(client, fake, link.get_json()["connect_url"]).status_code == 200
    assert created["refresh_token"] in fake.revoked
    assert (
        client.get("/api/email/mailboxes/billing", headers=admin_header()).json["status"]
        == "connected"
    )


def test_auth_takes_a_mailbox_name(connected: Gateway) -> None:
    _, client, _ = connected
    client.post("/api/email/mailboxes", json={"name": "shop"}, headers=admin_header())
    started = client.get("/api/email/auth?mailbox=shop", headers=admin_header())
    assert started.status_code == 302
    assert client.get("/api/email/auth?mailbox=nobody", headers=admin_header()).status_code == 404
    assert client.get("/api/email/auth?mailbox=Bad!", headers=admin_header()).status_code == 400


# Deleting --------------------------------------------------------------------------------


def test_deleting_a_mailbox_revokes_its_token_fails_its_queue_and_drops_its_keys(
    connected: Gateway,
) -> None:
    _, client, fake = connected
    created = add_mailbox(client, fake, "billing", "billing@acme.example")
    key = key_for(client, "billing")
    fake.account_for(created["refresh_token"]).mail_down = True
    queued = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key)).get_json()
    assert queued["status"] == "queued"
    assert client.delete("/api/email/mailboxes/billing", headers=admin_header()).status_code == 204
    assert created["refresh_token"] in fake.revoked
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header(key)).status_code == 401
    assert client.get("/api/email/mailboxes/billing", headers=admin_header()).status_code == 404
    assert client.delete("/api/email/mailboxes/billing", headers=admin_header()).status_code == 404
    # The default mailbox's key does not see it, but the store kept its outcome.
    assert (
        client.get(f"/api/email/messages/{queued['id']}", headers=auth_header()).status_code == 404
    )


def test_the_environments_mailbox_cannot_be_deleted_while_configured(connected: Gateway) -> None:
    _, client, _ = connected
    answer = client.delete("/api/email/mailboxes/default", headers=admin_header())
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "mailbox_from_environment"


# Needing reconnection, in isolation ------------------------------------------------------


def test_a_refused_refresh_token_marks_only_its_mailbox_and_its_messages_wait(
    connected: Gateway, clock: FakeClock
) -> None:
    app, client, fake = connected
    gateway_ = app.extensions["mailer"]
    created = add_mailbox(client, fake, "billing", "billing@acme.example")
    key = key_for(client, "billing")
    fake.revoke(created["refresh_token"])
    held = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key))
    # Zoho refuses its access token, then its refresh token: the message waits.
    assert held.status_code == 202
    clock.advance(3600)
    gateway_.jobs.tick()
    view = client.get("/api/email/mailboxes/billing", headers=admin_header()).get_json()
    assert view["status"] == "needs_reconnect"
    refused = client.post("/api/email/send", json=MESSAGE, headers=auth_header(key))
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "reauthorization_required"
    assert "connect-link" in refused.get_json()["error"]["message"]
    # The default mailbox does not notice.
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    # Reconnected through a link: the held message goes.
    link = client.post("/api/email/mailboxes/billing/connect-link", headers=admin_header())
    fake.consent_as = "billing@acme.example"
    follow_link(client, fake, link.get_json()["connect_url"])
    clock.advance(31)
    gateway_.jobs.deliver()
    status = client.get(f"/api/email/messages/{held.get_json()['id']}", headers=auth_header(key))
    assert status.get_json()["status"] == "sent"
