"""The few HTML pages a browser sees during setup; every value is escaped."""

from __future__ import annotations

import html

from flask import Response

from mailer.consent import AlreadyConnected, Connected
from mailer.errors import GatewayError

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = "font-family: sans-serif; max-width: 46rem; margin: 2rem auto"


def _page(title: str, body: str, status: int) -> Response:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="{_STYLE}">
{body}
</body></html>
"""
    response = Response(page, status=status, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def connected(outcome: Connected) -> Response:
    """The callback's success page: the mailbox, and (for the environment's mailbox connected
    by the admin) the refresh token shown this once."""
    address = html.escape(outcome.account.primary_address)
    body = f"""<h1>Connected: {address}</h1>
<p>Mailbox <strong>{html.escape(outcome.mailbox)}</strong> of the gateway now sends from
<strong>{address}</strong> (Zoho account {html.escape(outcome.account.account_id)}), through
{html.escape(outcome.mail_api_url)}. Every worker uses it at once; no restart is needed.</p>
<p>Allowed senders: {html.escape(", ".join(outcome.account.send_as))}</p>"""
    if outcome.env_lines:
        env = "\n".join(html.escape(line) for line in outcome.env_lines)
        body += f"""
<h2>The refresh token, shown this once</h2>
<p>The gateway has stored it. If your deployment keeps no disk between restarts, put these
lines in its environment (or <code>.env</code>) now; this page will not show them again.</p>
<pre style="background:#f4f4f4; padding:1rem; white-space:pre-wrap; word-break:break-all">{env}</pre>"""
    else:
        body += """
<p>The gateway keeps the connection and renews its access on its own; there is nothing to
copy. You can close this page.</p>"""
    return _page("Zoho mailbox connected", body, 200)


def already_connected(outcome: AlreadyConnected) -> Response:
    """The success page, reloaded: still connected; the refresh token was shown once."""
    address = html.escape(outcome.address)
    body = f"""<h1>Connected: {address}</h1>
<p>This setup already finished: the gateway sends from <strong>{address}</strong>. The refresh
token was shown once, on the first visit of this page, and is not shown again.</p>"""
    return _page("Zoho mailbox connected", body, 200)


def setup_failed(error: GatewayError) -> Response:
    body = f"""<h1>The mailbox was not connected</h1><p>{html.escape(error.message)}</p>
<p><small>code: {html.escape(error.code)}</small></p>"""
    return _page("Setup failed", body, error.status)
