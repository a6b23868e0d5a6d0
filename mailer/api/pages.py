"""The HTML a browser sees: the console's pages, the public page at ``/``, and the setup
pages. Jinja templates (``mailer/templates``), which escape every value; one stylesheet and one
script, both served by the gateway itself (``mailer/static``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, render_template
from markupsafe import Markup, escape

from mailer.mailboxes.consent import Connected
from mailer.mailboxes.consent_state import AlreadyConnected
from mailer.runtime.clock import utc_iso
from mailer.runtime.errors import GatewayError

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # a form POST then carries its Origin
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

# Words for people, where the API says a code.
WORDS = {
    "scheduled": "Scheduled",
    "queued": "Waiting to send",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "canceled": "Canceled",
    "bounced": "Bounced",
    "connected": "Connected",
    "needs_reconnect": "Needs reconnecting",
    "not_connected": "Not connected yet",
    "renewed": "Renewed",
    "throttled": "Zoho throttled the renewal",
    "refused": "Zoho refused the token",
    "rate_limited": "over the accept limit",
    "queue_full": "queue full",
    "repeated_message": "same message repeated",
    "hard_bounce": "hard bounce",
    "manual": "added by an admin",
}


def when(value: float | str | None) -> Markup:
    """A time for people: UTC in the page (and its title); the browser's script shows it in
    the browser's time zone."""
    iso = utc_iso(value) if isinstance(value, int | float) else value
    if not iso:
        return Markup("")
    shown = iso.replace("T", " ").replace("Z", " UTC")
    return Markup(f'<time datetime="{escape(iso)}" title="{escape(shown)}">{escape(shown)}</time>')  # noqa: S704


def words(code: str | None) -> str:
    if not code:
        return ""
    return WORDS.get(code, code.replace("_", " "))


def install(app: Flask, signed_in: Callable[[], bool]) -> None:
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["words"] = words
    app.jinja_env.globals["signed_in"] = signed_in


def render(template: str, status: int = 200, **values: Any) -> Response:
    response = Response(render_template(template, **values), status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def home_public() -> Response:
    """What anyone sees at ``/``: what this is and where the API is described; nothing more."""
    return render("home_public.html")


def signin(*, error: str | None, enabled: bool, status: int = 200) -> Response:
    return render("signin.html", status=status, error=error, enabled=enabled)


def connected(outcome: Connected) -> Response:
    """The callback's success page: the mailbox, and (for the environment's mailbox connected
    by the admin) the refresh token shown this once."""
    return render("connected.html", outcome=outcome)


def already_connected(outcome: AlreadyConnected) -> Response:
    """The success page, reloaded: still connected; the refresh token was shown once."""
    return render("already_connected.html", address=outcome.address)


def error_page(error: GatewayError, heading: str) -> Response:
    return render("error.html", error.status, error=error, heading=heading)
