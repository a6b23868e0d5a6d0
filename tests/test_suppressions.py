"""Each mailbox's suppression list, on both engines: an admin adds and removes addresses (API and
command line); a send naming one in to, cc or bcc is 422 recipient_suppressed and stores
nothing; over SMTP the address is refused at RCPT (550 5.1.1). Hard bounces add to it too
(tests/test_bounces.py)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from tests.conftest import MESSAGE, admin_header, auth_header, plain
from tests.fake_zoho import FakeZoho
from tests.test_smtp import login, smtp_gateway  # noqa: F401 - the SMTP listener fixture

Gateway = tuple[Flask, FlaskClient, FakeZoho]
LIST = "/api/email/mailboxes/default/suppressions"


@pytest.fixture
def gateway(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> Gateway:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), db=state_location
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    return app, client, fake_zoho


def stored(app: Flask) -> int:
    with app.extensions["mailer"].storage.database.read() as tx:
        row = tx.row("SELECT count(*) AS n FROM messages")
    assert row is not None
    return int(row["n"])


def test_a_suppressed_address_is_refused_in_every_field_until_removed(gateway: Gateway) -> None:
    app, client, fake = gateway
    added = client.post(LIST, json={"address": "Gone@Example.com"}, headers=admin_header())
    assert added.status_code == 201
    assert added.json["address"] == "gone@example.com" and added.json["reason"] == "manual"
    listed = client.get(LIST, headers=admin_header()).json["suppressions"]
    assert [s["address"] for s in listed] == ["gone@example.com"]
    for field in ("to", "cc", "bcc"):
        body = {**MESSAGE, field: "Someone <GONE@example.com>"}
        if field != "to":
            body["to"] = "paula@example.com"
        refused = client.post("/api/email/send", json=body, headers=auth_header())
        assert refused.status_code == 422, field
        assert refused.json["error"]["code"] == "recipient_suppressed"
        assert "gone@example.com" in refused.json["error"]["message"]
    assert stored(app) == 0 and fake.sent == []
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    removed = client.delete(f"{LIST}/gone@example.com", headers=admin_header())
    assert removed.status_code == 204
    assert client.delete(f"{LIST}/gone@example.com", headers=admin_header()).status_code == 404
    again = client.post(
        "/api/email/send", json={**MESSAGE, "to": "gone@example.com"}, headers=auth_header()
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [({"address": "not an address"}, 400), ({"address": "a@b.example", "x": 1}, 400), ([], 400)],
)
def test_a_bad_suppression_is_refused_and_changes_nothing(
    gateway: Gateway, body: object, status: int
) -> None:
    _, client, _ = gateway
    assert client.post(LIST, json=body, headers=admin_header()).status_code == status
    assert client.get(LIST, headers=admin_header()).json == {"suppressions": []}
    assert (
        client.get("/api/email/mailboxes/nobody/suppressions", headers=admin_header()).status_code
        == 404
    )
    assert client.get(LIST, headers=auth_header()).status_code == 401


def test_smtp_refuses_a_suppressed_recipient_at_rcpt(
    smtp_gateway: Callable[..., Any],  # noqa: F811
) -> None:
    app, client, fake, port = smtp_gateway()
    client.post(LIST, json={"address": "gone@example.com"}, headers=admin_header())
    with login(port) as session:
        refused = session.send_message(
            plain("partly"), to_addrs=["paula@example.com", "gone@example.com"]
        )
        assert refused == {
            "gone@example.com": (
                550,
                b"5.1.1 This mailbox sends nothing to that address (suppressed)",
            )
        }
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            session.send_message(plain("only"), to_addrs=["gone@example.com"])
    app.extensions["mailer"].jobs.deliver()
    [sent] = fake.sent
    assert "gone@example.com" not in str(sent)
