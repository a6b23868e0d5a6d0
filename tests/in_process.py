"""A requests transport that hands each call to a WSGI app in the caller's thread: the fake
Zoho without a socket, for the simulated year, where 50,000 token calls over loopback would
spend most of the run in thread hand-offs. Mounted on the gateway's own session (requests'
transport API), so nothing of the gateway or of requests is patched.

The app gets the WSGI environ a server would build (PEP 3333), built here directly: werkzeug's
test client builds it through several layers, which was most of a token call's time.
A call that takes longer than its read timeout is answered with ``requests.ReadTimeout``
after the fact, as a client that stopped waiting would see it (the fake did the work).
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class InProcessAdapter(BaseAdapter):
    def __init__(self, app: WsgiApp) -> None:
        super().__init__()
        self._app = app

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, timeout: Any = None, **_: Any
    ) -> requests.Response:
        started = time.monotonic()
        answered: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            answered[:] = [status, headers]
            return lambda data: None

        chunks = self._app(environ(request), start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None and time.monotonic() - started > read_timeout:
            raise requests.ReadTimeout(f"no answer within {read_timeout} s", request=request)
        status, headers = answered
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[-1]
        response.headers = CaseInsensitiveDict(headers)
        response._content = content
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


def environ(request: requests.PreparedRequest) -> dict[str, Any]:
    """The environ of ``request`` as a WSGI server on loopback would give it."""
    url = urlsplit(str(request.url))
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    found: dict[str, Any] = {
        "REQUEST_METHOD": str(request.method),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(url.path).decode("latin-1"),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            found[key] = value
        elif key != "CONTENT_LENGTH":
            found[f"HTTP_{key}"] = value
    return found
