"""The HTML a browser sees: the gateway's page at ``/``, and the setup pages. Jinja templates
(``mailer/templates``), which escape every value."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template

from mailer.mailboxes.consent import Connected
from mailer.mailboxes.consent_state import AlreadyConnected
from mailer.runtime.errors import GatewayError

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page(template: str, status: int = 200, **values: Any) -> Response:
    response = Response(render_template(template, **values), status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def home_public() -> Response:
    """What anyone sees at ``/``: what this is and where the API is described; nothing more."""
    return _page("home_public.html")


def home(**values: Any) -> Response:
    """The admin's page: mailboxes, their health, tokens and queues, the last messages."""
    return _page("home.html", **values)


def connected(outcome: Connected) -> Response:
    """The callback's success page: the mailbox, and (for the environment's mailbox connected
    by the admin) the refresh token shown this once."""
    return _page("connected.html", outcome=outcome)


def already_connected(outcome: AlreadyConnected) -> Response:
    """The success page, reloaded: still connected; the refresh token was shown once."""
    return _page("already_connected.html", address=outcome.address)


def error_page(error: GatewayError, heading: str) -> Response:
    return _page("error.html", error.status, error=error, heading=heading)
