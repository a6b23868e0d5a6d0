"""The HTTP session used for every call to Zoho: a timeout on each call and our User-Agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings

USER_AGENT = "zoho-mail-gateway/0.1"


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
        return super().request(method, url, *args, **kwargs)

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


def json_body(response: requests.Response) -> dict[str, Any] | None:
    """The reply's JSON object, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
