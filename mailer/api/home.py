"""``GET /``: the page for people. Anyone sees what this is; the admin (HTTP Basic) sees every
mailbox with its health, token and queue, and the last messages."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from mailer.api import pages
from mailer.api.incoming import gateway, is_admin, require_admin
from mailer.mailboxes.view import mailbox_view, suppression_view
from mailer.sending.view import message_view

bp = Blueprint("home", __name__)

# The page shows this many mailboxes and this many last messages of each.
MAILBOXES_SHOWN = 100
MESSAGES_EACH = 5
SUPPRESSIONS_SHOWN = 50


@bp.get("/")
def home() -> Response:
    g.html_errors = "Sign-in needed"
    if not is_admin():
        if request.args.get("signin"):
            require_admin()  # 401 with a Basic challenge: the browser asks for the password
        return pages.home_public()
    views = gateway().admin.all()
    shown = views[:MAILBOXES_SHOWN]
    recent = [
        message_view(m)
        for view in shown
        for m in gateway().queue.page(view.mailbox.name, limit=MESSAGES_EACH).messages
    ]
    recent.sort(key=lambda m: m["created_at"] or "", reverse=True)
    suppressed = [
        {"mailbox": view.mailbox.name, **suppression_view(s)}
        for view in shown
        for s in gateway().admin.suppressions(view.mailbox.name)
    ]
    return pages.home(
        mailboxes=[mailbox_view(v) for v in shown],
        more_mailboxes=len(views) - len(shown),
        suppressions=suppressed[:SUPPRESSIONS_SHOWN],
        more_suppressions=max(0, len(suppressed) - SUPPRESSIONS_SHOWN),
        messages=recent,
        transport=gateway().settings.transport,
        state=gateway().storage.describe(),
    )
