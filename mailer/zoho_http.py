"""The HTTP session used for every call to Zoho: a timeout on each call and our User-Agent."""

from __future__ import annotations

from typing import Any

import requests

USER_AGENT = "zoho-mail-gateway/0.1"


class ZohoSession(requests.Session):
    """A Session whose every request carries a timeout unless the caller gives one."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds
        self.headers["User-Agent"] = USER_AGENT
        self.headers["Accept"] = "application/json"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_seconds)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)


def json_body(response: requests.Response) -> dict[str, Any] | None:
    """The reply's JSON object, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
