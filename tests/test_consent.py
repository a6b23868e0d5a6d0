"""First-time setup through /api/email/auth and /api/email/callback, against the fake Zoho."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from mailer.config import from_env
from mailer.config.data_centres import mail_host_for, trusted_server
from mailer.config.settings import Settings
from mailer.zoho.accounts import GrantRefused, ZohoAccounts
from mailer.zoho.http import ZohoSession
from tests.conftest import ADMIN_KEY, FakeClock, SecretGuard, auth_header
from tests.fake_zoho import ACCOUNT_ID, PRIMARY, FakeZoho

ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()}


@pytest.fixture
def unconnected(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> FlaskClient:
    _, client = make_app(make_settings(fake_zoho))
    return client


def consent(client: FlaskClient, fake: FakeZoho) -> dict[str, str]:
    """Run /auth, let the fake Zoho consent, and return the callback's query."""
    started = client.get("/api/email/auth", headers=ADMIN)
    assert started.status_code == 302
    zoho = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    assert zoho.status_code == 302
    back = urlsplit(zoho.headers["Location"])
    return {k: v[0] for k, v in parse_qs(back.query).items()}


def callback(client: FlaskClient, query: dict[str, str]) -> Any:
    return client.get("/api/email/callback", query_string=query, headers={"Accept": "text/html"})


def test_the_auth_redirect_carries_what_zoho_needs(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    response = unconnected.get("/api/email/auth", headers=ADMIN)
    location = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert (
        f"{location.scheme}://{location.netloc}{location.path}" == f"{fake_zoho.url}/oauth/v2/auth"
    )
    assert query["response_type"] == "code"
    assert query["client_id"] == fake_zoho.client_id
    assert query["scope"] == "ZohoMail.messages.CREATE,ZohoMail.accounts.READ"
    assert query["redirect_uri"] == fake_zoho.redirect_uri
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert len(query["state"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_setup_from_nothing_then_a_send_without_restart(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    before = unconnected.get("/api/email/status")
    assert before.status_code == 503
    assert "/api/email/auth" in before.get_json()["reason"]

    page = callback(unconnected, consent(unconnected, fake_zoho))
    [refresh_token] = fake_zoho.exchanged
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert PRIMARY in text
    assert f"ZOHO_REFRESH_TOKEN={refresh_token}" in text
    assert page.headers["Cache-Control"] == "no-store"
    assert [c.form["grant_type"] for c in fake_zoho.token_calls] == ["authorization_code"]

    status = unconnected.get("/api/email/status", headers=auth_header())
    assert status.status_code == 200
    assert status.get_json()["mailbox"] == PRIMARY
    assert status.get_json()["account_id"] == ACCOUNT_ID

    sent = unconnected.post(
        "/api/email/send",
        json={"to": "paula@example.com", "subject": "Hi", "text": "hello"},
        headers=auth_header(),
    )
    assert sent.status_code == 200, sent.get_json()
    assert len(fake_zoho.sent) == 1
    assert fake_zoho.sent[0]["fromAddress"] == PRIMARY
    assert len(fake_zoho.token_calls) == 1  # the token from the exchange was used as it was


@pytest.mark.security
def test_a_replayed_state_is_refused_and_exchanges_nothing(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    """A replayed success says the mailbox is connected (no token); a replayed failure is
    refused; neither exchanges anything."""
    query = consent(unconnected, fake_zoho)
    first = callback(unconnected, query)
    assert first.status_code == 200
    again = callback(unconnected, query)
    assert again.status_code == 200
    assert "not shown again" in again.get_data(as_text=True)
    assert all(t not in again.get_data(as_text=True) for t in fake_zoho.exchanged)
    assert len(fake_zoho.token_calls) == 1
    fake_zoho.token_failures.append("invalid_code")
    failed = consent(unconnected, fake_zoho)
    assert callback(unconnected, failed).status_code == 400
    replayed = callback(unconnected, failed)
    assert replayed.status_code == 403
    assert "already used" in replayed.get_data(as_text=True)
    assert len(fake_zoho.token_calls) == 2


@pytest.mark.security
def test_a_forged_state_is_refused_and_exchanges_nothing(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    query = consent(unconnected, fake_zoho)
    query["state"] = "forged-" + query["state"][7:]
    response = unconnected.get("/api/email/callback", query_string=query)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "invalid_state"
    assert fake_zoho.token_calls == []


@pytest.mark.security
def test_a_state_from_another_browser_is_refused(
    unconnected: FlaskClient,
    fake_zoho: FakeZoho,
    make_app: Callable[..., Any],
    make_settings: Callable[..., Settings],
) -> None:
    query = consent(unconnected, fake_zoho)
    unconnected.delete_cookie("mailer_consent", path="/api/email")
    response = unconnected.get("/api/email/callback", query_string=query)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "state_wrong_browser"
    assert fake_zoho.token_calls == []


@pytest.mark.security
def test_an_expired_state_is_refused(
    unconnected: FlaskClient, fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    query = consent(unconnected, fake_zoho)
    clock.advance(601)
    response = unconnected.get("/api/email/callback", query_string=query)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "state_expired"
    assert fake_zoho.token_calls == []


@pytest.mark.security
def test_a_denied_consent_is_a_page_that_says_so(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    fake_zoho.deny_consent = True
    query = consent(unconnected, fake_zoho)
    response = callback(unconnected, query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "access_denied" in response.get_data(as_text=True)
    assert fake_zoho.token_calls == []


@pytest.mark.security
def test_a_missing_code_is_refused(unconnected: FlaskClient, fake_zoho: FakeZoho) -> None:
    query = consent(unconnected, fake_zoho)
    del query["code"]
    response = unconnected.get("/api/email/callback", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_code"


@pytest.mark.security
def test_a_stranger_accounts_server_never_sees_the_code_or_the_secret(
    unconnected: FlaskClient, fake_zoho: FakeZoho, secret_guard: SecretGuard
) -> None:
    stranger = FakeZoho().start()
    secret_guard.fakes.append(stranger)
    try:
        for server in (
            stranger.url,
            "https://accounts.zoho.com.evil.example",
            "https://evil.example",
        ):
            query = consent(unconnected, fake_zoho)
            query["accounts-server"] = server
            response = unconnected.get("/api/email/callback", query_string=query)
            assert response.status_code == 400
            assert response.get_json()["error"]["code"] == "untrusted_accounts_server"
        assert stranger.token_calls == []
        assert stranger.mail_calls == []
        assert fake_zoho.token_calls == []
    finally:
        stranger.stop()


def test_a_code_zoho_refuses_says_to_start_again(
    unconnected: FlaskClient, fake_zoho: FakeZoho
) -> None:
    fake_zoho.token_failures.append("invalid_code")
    response = unconnected.get("/api/email/callback", query_string=consent(unconnected, fake_zoho))
    assert response.status_code == 400
    body = response.get_json()["error"]
    assert body["code"] == "code_rejected"
    assert "/api/email/auth" in body["message"]


def test_reconnecting_heals_a_revoked_connection_and_held_messages_go_out(
    connected: tuple[Any, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    app, client, fake = connected
    connection = app.extensions["mailer"].storage.mailboxes.get("default")
    fake.revoke(connection.refresh_token)
    fake.expire_access_tokens()
    send = {"to": "paula@example.com", "subject": "Hi", "text": "hello"}
    # The first send finds out: its message waits for the reconnection.
    held = client.post("/api/email/send", json=send, headers=auth_header())
    assert held.status_code == 202
    refused = client.post("/api/email/send", json=send, headers=auth_header())
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "reauthorization_required"
    assert client.get("/api/email/status").status_code == 503
    app.extensions["mailer"].jobs.deliver()
    assert fake.sent == []

    client.get("/api/email/callback", query_string=consent(client, fake))
    assert client.get("/api/email/status").status_code == 200
    assert client.post("/api/email/send", json=send, headers=auth_header()).status_code == 200
    clock.advance(31)
    app.extensions["mailer"].jobs.deliver()
    view = client.get(f"/api/email/messages/{held.get_json()['id']}", headers=auth_header())
    assert view.get_json()["status"] == "sent"
    assert len(fake.sent) == 2


@pytest.mark.parametrize(
    ("accounts", "mail"),
    [
        ("https://accounts.zoho.com", "https://mail.zoho.com"),
        ("https://accounts.zoho.eu", "https://mail.zoho.eu"),
        ("https://accounts.zoho.in", "https://mail.zoho.in"),
        ("https://accounts.zoho.com.au", "https://mail.zoho.com.au"),
        ("https://accounts.zoho.jp", "https://mail.zoho.jp"),
        ("https://accounts.zoho.uk", "https://mail.zoho.uk"),
        ("https://accounts.zoho.sa", "https://mail.zoho.sa"),
        ("https://accounts.zoho.com.cn", "https://mail.zoho.com.cn"),
        ("https://accounts.zohocloud.ca/", "https://mail.zohocloud.ca"),
    ],
)
def test_every_data_centre_zoho_lists_is_trusted_with_its_mail_host(
    accounts: str, mail: str
) -> None:
    assert mail_host_for(accounts) == mail
    assert trusted_server(accounts, "https://accounts.zoho.com") == accounts.rstrip("/")
    # ZOHO_API_DOMAIN unset: the Mail host of ZOHO_ACCOUNTS_URL's data centre.
    settings = from_env({"ZOHO_ACCOUNTS_URL": accounts})
    assert settings.zoho_api_domain == mail
    assert (
        from_env({"ZOHO_ACCOUNTS_URL": accounts, "ZOHO_API_DOMAIN": mail}).zoho_api_domain == mail
    )


def test_an_api_host_is_no_data_centre() -> None:
    assert mail_host_for("https://www.zohoapis.eu") is None
    assert trusted_server("https://www.zohoapis.eu", "https://accounts.zoho.com") is None


@pytest.mark.parametrize("failure", ["account look-up", "no matching account"])
def test_a_consent_that_fails_after_the_exchange_revokes_the_token_it_got(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    failure: str,
) -> None:
    if failure == "account look-up":
        _, client = make_app(make_settings(fake_zoho))
        fake_zoho.mail_failures.append("500")
    else:
        _, client = make_app(make_settings(fake_zoho, zoho_account_id="999"))
    response = callback(client, consent(client, fake_zoho))
    assert response.status_code in (502, 503)
    [minted] = fake_zoho.exchanged
    assert minted in fake_zoho.revoked
    revoke = [c for c in fake_zoho.token_calls if c.path.endswith("/revoke")]
    assert len(revoke) == 1 and revoke[0].form == {"token": minted}


def test_invalid_client_at_another_data_centre_says_to_enable_it(fake_zoho: FakeZoho) -> None:
    client = ZohoAccounts(
        client_id="1000.OTHERCLIENT",
        client_secret="elsewhere",
        redirect_uri=fake_zoho.redirect_uri,
        session=ZohoSession(2.0),
        home_accounts_url="https://accounts.zoho.com",
    )
    with pytest.raises(GrantRefused) as refused:
        client.refresh(fake_zoho.url, "1000.unknown")
    assert "invalid_client" in refused.value.reason
    assert "enable that data centre for the client" in refused.value.reason
    home = ZohoAccounts(
        client_id="1000.OTHERCLIENT",
        client_secret="elsewhere",
        redirect_uri=fake_zoho.redirect_uri,
        session=ZohoSession(2.0),
        home_accounts_url=fake_zoho.url,
    )
    with pytest.raises(GrantRefused) as at_home:
        home.refresh(fake_zoho.url, "1000.unknown")
    assert "data centre" not in at_home.value.reason
