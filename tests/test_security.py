"""The security suite: keys on every protected route, and the secret guard itself.

Also in the suite (marked ``security``): the callback's refusals in test_consent.py, the file
mode in test_store.py; and on every test, the autouse guard in conftest.py that searches every
log line and response for every configured or issued secret.
"""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN_KEY, API_KEY, MESSAGE, SecretGuard
from tests.fake_zoho import FakeZoho

pytestmark = pytest.mark.security

Connected = tuple[Flask, FlaskClient, FakeZoho]
WRONG_BEARERS = {
    "no header": {},
    "wrong key": {"Authorization": "Bearer not-the-key"},
    "last character differs": {
        "Authorization": f"Bearer {API_KEY[:-1]}{chr(ord(API_KEY[-1]) + 1)}"
    },
    "key as a prefix": {"Authorization": f"Bearer {API_KEY[:-1]}"},
    "key with more": {"Authorization": f"Bearer {API_KEY}x"},
    "other scheme": {"Authorization": f"Token {API_KEY}"},
    "basic scheme": {"Authorization": f"Basic {API_KEY}"},
    "no scheme": {"Authorization": API_KEY},
    "empty bearer": {"Authorization": "Bearer "},
}


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


@pytest.mark.parametrize("headers", WRONG_BEARERS.values(), ids=WRONG_BEARERS.keys())
def test_send_refuses_without_the_key_and_nothing_happens(
    connected: Connected, headers: dict[str, str]
) -> None:
    app, client, fake = connected
    response = client.post(
        "/api/email/send", json=MESSAGE, headers={**headers, "Idempotency-Key": "k"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="mailer"'
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert fake.sent == [] and fake.mail_calls == []
    assert app.extensions["mailer"].storage.messages.stats("default").depth == 0


@pytest.mark.parametrize("headers", WRONG_BEARERS.values(), ids=WRONG_BEARERS.keys())
def test_messages_refuse_without_the_key(connected: Connected, headers: dict[str, str]) -> None:
    _, client, _ = connected
    message_id = client.post(
        "/api/email/send", json=MESSAGE, headers={"Authorization": f"Bearer {API_KEY}"}
    ).get_json()["id"]
    response = client.get(f"/api/email/messages/{message_id}", headers=headers)
    assert response.status_code == 401
    assert message_id not in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", WRONG_BEARERS.values(), ids=WRONG_BEARERS.keys())
def test_status_shows_no_details_without_the_key(
    connected: Connected, headers: dict[str, str]
) -> None:
    _, client, _ = connected
    response = client.get("/api/email/status", headers=headers)
    assert set(response.get_json()) == {"ready", "reason"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("wrong"),
        basic(ADMIN_KEY[:-1] + "X"),
        basic(ADMIN_KEY + "x"),
        {"Authorization": f"Bearer {ADMIN_KEY}"},
        {"Authorization": f"Bearer {API_KEY}"},
    ],
    ids=["none", "wrong", "last character differs", "longer", "bearer admin key", "api key"],
)
def test_auth_refuses_without_the_admin_key_and_starts_no_flow(
    connected: Connected, headers: dict[str, str]
) -> None:
    app, client, _ = connected
    response = client.get("/api/email/auth", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.get_json()["error"]["code"] == "admin_required"
    assert "Set-Cookie" not in response.headers
    with app.extensions["mailer"].storage.database.read() as tx:
        assert tx.row("SELECT count(*) AS n FROM oauth_states") == {"n": 0}


def test_the_secret_guard_catches_a_leak(secret_guard: SecretGuard) -> None:
    """The guard is what the whole suite relies on; it must be able to fail."""
    probe = SecretGuard()
    probe.secrets.add("s3cr3t-value")
    probe.records.append("mailer.mailboxes.tokens INFO renewed s3cr3t-value")
    probe.responses.append(("/api/email/status", '{"token": "s3cr3t-value"}'))
    assert len(probe.leaks()) == 2
    probe.responses.append(("/api/email/callback", "s3cr3t-value"))
    assert len(probe.leaks()) == 3  # the callback may show only a refresh token it just obtained
