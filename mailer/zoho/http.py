"""The HTTP session used for every call to Zoho: a timeout on each call and our User-Agent."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from mailer.runtime import metrics

if TYPE_CHECKING:
    from requests.sessions import _Settings

USER_AGENT = "zoho-mail-gateway/0.1"
_QUERY_SECRET = re.compile(r"([?&](?:token|refresh_token|client_secret|code)=)[^&\s\"]+")


class QueryRedaction(logging.Filter):
    """urllib3 logs each request's URL at DEBUG; Zoho's revoke call carries the token in its
    query string, as Zoho documents it. Every such value is replaced before anything logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _QUERY_SECRET.sub(r"\1<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(QueryRedaction())


class ZohoSession(requests.Session):
    """A Session whose every request carries a timeout unless the caller gives one."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds
        self.headers["User-Agent"] = USER_AGENT
        self.headers["Accept"] = "application/json"

        self._environment: dict[tuple[str, str], _Settings] = {}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_seconds)
        kwargs.setdefault("allow_redirects", False)
        call = call_name(str(url))
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.Timeout:
            metrics.zoho_call(call, "timeout")
            raise
        except requests.RequestException:
            metrics.zoho_call(call, "error")
            raise
        metrics.zoho_call(call, f"{response.status_code // 100}xx")
        return response

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """requests' own answer (proxies, CA bundle from the environment), once per host.

        requests reads the whole environment twice on every call to find proxies; the gateway
        calls a handful of hosts whose settings do not change while it runs.
        """
        if proxies or stream or verify not in (None, True) or cert:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc)
        if key not in self._environment:
            self._environment[key] = super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        return self._environment[key].copy()


# The last part of a call's path, and the call's name; the first that matches names it.
_CALLS_BY_PATH_END = (
    ("/token/revoke", "revoke"),
    ("/oauth/v2/token", "token"),
    ("/messages/attachments", "upload"),
    ("/messages", "send"),
    ("/folders", "folders"),
    ("/messages/view", "list"),
    ("/originalmessage", "original"),
    ("/api/accounts", "accounts"),
)


def call_name(url: str) -> str:
    """A bounded name for a call to Zoho, for metrics: never its query or ids."""
    path = urlsplit(url).path.rstrip("/")
    for end, name in _CALLS_BY_PATH_END:
        if path.endswith(end):
            return name
    return "accounts" if "/api/accounts/" in path else "other"


def json_body(response: requests.Response) -> dict[str, Any] | None:
    """The reply's JSON object, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
