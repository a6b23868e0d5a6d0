"""Zoho's OAuth server: the consent URL, code exchange and refresh, classified as Zoho answers.

Zoho answers most token-endpoint errors with HTTP 200 and ``{"error": "..."}``, so every
reply is classified by its body, never by its status alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from mailer.zoho.http import ZohoSession, json_body

log = logging.getLogger(__name__)

SCOPES = ("ZohoMail.messages.CREATE", "ZohoMail.accounts.READ")

# Zoho's data centres: accounts server -> Zoho Mail API host (zoho-api.md, section 1).
DATA_CENTRES: dict[str, str] = {
    "https://accounts.zoho.com": "https://mail.zoho.com",
    "https://accounts.zoho.eu": "https://mail.zoho.eu",
    "https://accounts.zoho.in": "https://mail.zoho.in",
    "https://accounts.zoho.com.au": "https://mail.zoho.com.au",
    "https://accounts.zoho.jp": "https://mail.zoho.jp",
    "https://accounts.zoho.uk": "https://mail.zoho.uk",
    "https://accounts.zohocloud.ca": "https://mail.zohocloud.ca",
    "https://accounts.zoho.sa": "https://mail.zoho.sa",
    "https://accounts.zoho.com.cn": "https://mail.zoho.com.cn",
}

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

    access_token: str
    expires_in_seconds: float
    refresh_token: str | None
    api_domain: str | None


def normalise_server(url: str) -> str:
    """An accounts-server URL as compared with the allow-list: scheme and host, no slash."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}{parts.path.rstrip('/')}"


def trusted_server(server: str, configured: str) -> str | None:
    """``server`` if it is the configured accounts server or one of Zoho's own; else None
    (a code or refresh token is never sent anywhere else)."""
    wanted = normalise_server(server)
    if wanted == normalise_server(configured):
        return configured
    return wanted if wanted in DATA_CENTRES else None


def mail_host_for(accounts_url: str) -> str | None:
    """The Zoho Mail API host of the data centre an accounts server belongs to."""
    return DATA_CENTRES.get(normalise_server(accounts_url))


def mail_api_for(
    accounts_url: str, *, configured_accounts_url: str, configured_api_domain: str
) -> str:
    """The Zoho Mail API host of a mailbox connected at ``accounts_url``: ZOHO_API_DOMAIN for
    the configured data centre, else its own data centre's host."""
    if normalise_server(accounts_url) == normalise_server(configured_accounts_url):
        return configured_api_domain
    return mail_host_for(accounts_url) or configured_api_domain


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
    return TokenGrant(
        access_token=token,
        expires_in_seconds=lifetime_seconds(body),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        api_domain=api_domain if isinstance(api_domain, str) else None,
    )


class ZohoAccounts:
    """Client of Zoho's OAuth server for one OAuth client (id, secret, redirect URI)."""

    def __init__(
        self, *, client_id: str, client_secret: str, redirect_uri: str, session: ZohoSession
    ) -> None:
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
                "scope": ",".join(SCOPES),
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

        Zoho documents the token as a query parameter; it travels in the form body here, as
        every credential does, so that no access log records it."""
        try:
            response = self._session.post(
                f"{accounts_url}/oauth/v2/token/revoke", data={"token": refresh_token}
            )
        except requests.RequestException as exc:
            raise TransientFailure(
                f"could not reach the revoke endpoint ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise GrantRefused(f"HTTP {response.status_code}")

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
        return classify(response.status_code, json_body(response))
