"""Zoho's OAuth server: the consent URL, code exchange and refresh, classified as Zoho answers.

Zoho answers most token-endpoint errors with HTTP 200 and ``{"error": "..."}``, so every
reply is classified by its body, never by its status alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from mailer.config.data_centres import normalise_server
from mailer.zoho.http import ZohoSession, json_body

log = logging.getLogger(__name__)

SCOPES = ("ZohoMail.messages.CREATE", "ZohoMail.accounts.READ")
# Reading bounces back (MAILER_BOUNCES=on): the messages, and the folders to find the Inbox.
READ_SCOPES = ("ZohoMail.messages.READ", "ZohoMail.folders.READ")

# Older replies give the lifetime in milliseconds; no access token lives longer than a day.
MAX_LIFETIME_SECONDS = 86400
DEFAULT_LIFETIME_SECONDS = 3600


class TokenEndpointError(Exception):
    """The token endpoint did not give us a token; ``reason`` is safe to log and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GrantRefused(TokenEndpointError):
    """Zoho refused the grant or the client (any ``invalid_*``): an admin must act."""


class Throttled(TokenEndpointError):
    """Zoho's token throttle ("Access Denied", ``status: failure``): wait at least 10 minutes."""


class TransientFailure(TokenEndpointError):
    """Timeout, connection error, 5xx or an unreadable reply: worth retrying later."""


class TokenTimeout(TransientFailure):
    """The token endpoint did not answer within the timeout."""


@dataclass(frozen=True)
class TokenGrant:
    """A token reply, with the lifetime already in seconds."""

    access_token: str = field(repr=False)
    expires_in_seconds: float
    refresh_token: str | None = field(repr=False)
    api_domain: str | None
    # What the consent granted, space-separated (None: the reply did not say).
    scopes: str | None = None


def lifetime_seconds(body: dict[str, Any]) -> float:
    """The access token's lifetime: ``expires_in_sec`` first; an ``expires_in`` above a day is ms."""
    for key in ("expires_in_sec", "expires_in"):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if seconds <= 0:
            continue
        if key == "expires_in" and seconds > MAX_LIFETIME_SECONDS:
            seconds /= 1000
        return seconds
    return DEFAULT_LIFETIME_SECONDS


def classify(status: int, body: dict[str, Any] | None) -> TokenGrant:
    """Turn a token-endpoint reply into a grant or the right TokenEndpointError."""
    if body is None:
        raise TransientFailure(f"unreadable reply (HTTP {status})")
    error = body.get("error")
    if body.get("status") == "failure" or error == "Access Denied":
        raise Throttled("Zoho throttled token requests (too many in 10 minutes)")
    if isinstance(error, str) and error:
        if error.startswith("invalid_"):
            raise GrantRefused(f"Zoho answered {error}")
        raise TransientFailure(f"Zoho answered error {error[:64]!r} (HTTP {status})")
    if status >= 500:
        raise TransientFailure(f"HTTP {status}")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise TransientFailure(f"reply without an access token (HTTP {status})")
    refresh = body.get("refresh_token")
    api_domain = body.get("api_domain")
    scope = body.get("scope")
    return TokenGrant(
        access_token=token,
        expires_in_seconds=lifetime_seconds(body),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        api_domain=api_domain if isinstance(api_domain, str) else None,
        scopes=" ".join(scope.replace(",", " ").split()) if isinstance(scope, str) else None,
    )


class ZohoAccounts:
    """Client of Zoho's OAuth server for one OAuth client (id, secret, redirect URI)."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        session: ZohoSession,
        home_accounts_url: str = "https://accounts.zoho.com",
        scopes: tuple[str, ...] = SCOPES,
    ) -> None:
        # What a consent asks for: the send scopes, and the read scopes when bounces are on.
        self._scopes = scopes
        # The data centre the client was registered in (ZOHO_ACCOUNTS_URL).
        self._home_accounts_url = home_accounts_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self._session = session

    def authorize_url(self, accounts_url: str, state: str) -> str:
        """Where to send the admin's browser to consent."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "scope": ",".join(self._scopes),
                "redirect_uri": self._redirect_uri,
                "access_type": "offline",
                "prompt": "consent",
                "state": state,
            }
        )
        return f"{accounts_url}/oauth/v2/auth?{query}"

    def exchange_code(self, accounts_url: str, code: str) -> TokenGrant:
        """Trade a grant code for a refresh and an access token."""
        return self._token(
            accounts_url,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_uri},
        )

    def refresh(self, accounts_url: str, refresh_token: str) -> TokenGrant:
        """A new access token for a refresh token."""
        return self._token(
            accounts_url, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    def revoke(self, accounts_url: str, refresh_token: str) -> None:
        """Revoke a refresh token (and its access tokens) at Zoho; raises TokenEndpointError.

        As Zoho documents it: the token in the query string (whether Zoho reads a form body is
        unknown), and ``{"status": "success"}`` back. The URL goes to Zoho only: the gateway
        logs no URL, and urllib3's own request lines are kept out of the logs (runtime.logs)."""
        try:
            response = self._session.post(
                f"{accounts_url}/oauth/v2/token/revoke", params={"token": refresh_token}
            )
        except requests.RequestException as exc:
            raise TransientFailure(
                f"could not reach the revoke endpoint ({type(exc).__name__})"
            ) from exc
        body = json_body(response)
        if response.status_code != 200 or body is None or body.get("status") != "success":
            error = body.get("error") if body else None
            raise GrantRefused(
                f"HTTP {response.status_code}"
                + (f" {error[:64]}" if isinstance(error, str) else "")
            )

    def _token(self, accounts_url: str, params: dict[str, str]) -> TokenGrant:
        # Credentials travel in the form body, never in the URL, so that no proxy or
        # access log ever records them.
        form = {**params, "client_id": self._client_id, "client_secret": self._client_secret}
        try:
            response = self._session.post(f"{accounts_url}/oauth/v2/token", data=form)
        except requests.Timeout as exc:
            raise TokenTimeout("the token endpoint timed out") from exc
        except requests.RequestException as exc:
            raise TransientFailure(
                f"could not reach the token endpoint ({type(exc).__name__})"
            ) from exc
        try:
            return classify(response.status_code, json_body(response))
        except GrantRefused as exc:
            if "invalid_client" not in exc.reason or normalise_server(accounts_url) == (
                normalise_server(self._home_accounts_url)
            ):
                raise
            raise GrantRefused(
                f"{exc.reason} at {normalise_server(accounts_url)}, another data centre than "
                f"this OAuth client's ({normalise_server(self._home_accounts_url)}): enable that "
                "data centre for the client in Zoho's API console (Settings, Multi-DC), with the "
                "same credentials or that data centre's own secret"
            ) from exc
