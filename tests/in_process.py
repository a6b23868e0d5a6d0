"""A requests transport that hands each call to a WSGI app in the caller's thread: the fake
Zoho without a socket, for the simulated year, where 50,000 token calls over loopback would
spend most of the run in thread hand-offs. Mounted on the gateway's own session (requests'
transport API), so nothing of the gateway or of requests is patched.

A call that takes longer than its read timeout is answered with ``requests.ReadTimeout``
after the fact, as a client that stopped waiting would see it (the fake did the work).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class InProcessAdapter(BaseAdapter):
    def __init__(self, app: Flask) -> None:
        super().__init__()
        self._client = app.test_client()

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **_: Any
    ) -> requests.Response:
        url = urlsplit(str(request.url))
        started = time.monotonic()
        answer = self._client.open(
            url.path,
            method=str(request.method),
            query_string=url.query,
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
            data=request.body,
        )
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None and time.monotonic() - started > read_timeout:
            raise requests.ReadTimeout(f"no answer within {read_timeout} s", request=request)
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.split(" ", 1)[-1]
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.get_data()
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass
