"""Token-endpoint replies are classified by their body, as Zoho really answers."""

from __future__ import annotations

from typing import Any

import pytest

from mailer.zoho.accounts import (
    GrantRefused,
    Throttled,
    TokenEndpointError,
    TransientFailure,
    ZohoAccounts,
    classify,
)
from mailer.zoho.http import ZohoSession
from tests.fake_zoho import THROTTLE_BODY, FakeZoho


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"error": "invalid_code"}, GrantRefused),
        (200, {"error": "invalid_client"}, GrantRefused),
        (200, {"error": "invalid_client_secret"}, GrantRefused),
        (200, {"error": "invalid_redirect_uri"}, GrantRefused),
        (400, {"error": "invalid_token"}, GrantRefused),
        (400, THROTTLE_BODY, Throttled),
        (200, THROTTLE_BODY, Throttled),
        (
            400,
            {
                "error_description": "您已连续提出过多请求，请稍后再试。",  # noqa: RUF001
                "error": "拒绝访问",
                "status": "failure",
            },
            Throttled,
        ),
        (500, None, TransientFailure),
        (502, {"message": "bad gateway"}, TransientFailure),
        (200, None, TransientFailure),
        (200, {"token_type": "Bearer"}, TransientFailure),
        (200, {"error": "something_new"}, TransientFailure),
    ],
)
def test_failures(status: int, body: dict[str, Any] | None, kind: type[TokenEndpointError]) -> None:
    with pytest.raises(kind):
        classify(status, body)


@pytest.mark.parametrize(
    ("body", "seconds"),
    [
        ({"expires_in": 3600}, 3600),
        ({"expires_in": 3600000, "expires_in_sec": 3600}, 3600),
        ({"expires_in": 3600000}, 3600),
        ({"expires_in": "612"}, 612),
        ({}, 3600),
        ({"expires_in": True}, 3600),
    ],
)
def test_lifetimes(body: dict[str, Any], seconds: float) -> None:
    grant = classify(200, {"access_token": "1000.x", **body})
    assert grant.expires_in_seconds == seconds
    assert grant.refresh_token is None


def test_a_slow_token_endpoint_times_out(fake_zoho: FakeZoho) -> None:
    fake_zoho.slow_seconds = 1.0
    fake_zoho.token_failures.append("timeout")
    client = ZohoAccounts(
        client_id=fake_zoho.client_id,
        client_secret=fake_zoho.client_secret,
        redirect_uri=fake_zoho.redirect_uri,
        session=ZohoSession(0.2),
    )
    with pytest.raises(TransientFailure, match="timed out"):
        client.refresh(fake_zoho.url, fake_zoho.issue_refresh_token())


def test_an_unreachable_token_endpoint_is_transient() -> None:
    client = ZohoAccounts(
        client_id="x", client_secret="y", redirect_uri="z", session=ZohoSession(0.5)
    )
    with pytest.raises(TransientFailure, match="could not reach"):
        client.refresh("http://127.0.0.1:9", "1000.r")


def test_credentials_travel_in_the_body_not_the_url(fake_zoho: FakeZoho) -> None:
    client = ZohoAccounts(
        client_id=fake_zoho.client_id,
        client_secret=fake_zoho.client_secret,
        redirect_uri=fake_zoho.redirect_uri,
        session=ZohoSession(2.0),
    )
    client.refresh(fake_zoho.url, fake_zoho.issue_refresh_token())
    [call] = fake_zoho.token_calls
    assert call.form["client_secret"] == fake_zoho.client_secret
