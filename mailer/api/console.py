"""The admin console's pages (``GET``): the overview at ``/``, a mailbox, the message search
and a message's history. Signed out, ``/`` is the public page; the others send the browser to
sign in. Changes are the forms of ``console_actions``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, request
from werkzeug.wrappers.response import Response as BaseResponse

from mailer.api import charts, pages
from mailer.api.incoming import gateway
from mailer.api.signin import may_read
from mailer.mailboxes.directory import MailboxDirectory
from mailer.mailboxes.view import mailbox_view, suppression_view
from mailer.runtime.errors import InvalidRequest
from mailer.sending import search as message_search
from mailer.sending.queue import message_not_found
from mailer.sending.view import message_view
from mailer.storage.console_ports import HourCount, MessageQuery

bp = Blueprint("console", __name__)

RECENT = 20
WEEK = 7 * 86400
MESSAGE_OUTCOMES = ("sent", "failed", "bounced")
RENEWAL_OUTCOMES = ("renewed", "renewal_failed")


def directory() -> MailboxDirectory:
    gw = gateway()
    return MailboxDirectory(
        settings=gw.settings, storage=gw.storage, clock=gw.clock, admin=gw.admin
    )


def week(hours: list[HourCount], now: float, of: str) -> dict[str, Any]:
    """The week's two charts: messages by outcome, and renewals with their failures."""
    return {
        "chart": charts.hourly(hours, now=now, outcomes=MESSAGE_OUTCOMES,
                               title=f"Messages per hour, {of}", key="msgs"),
        "renewals": charts.hourly(hours, now=now, outcomes=RENEWAL_OUTCOMES,
                                  title=f"Token renewals per hour, {of}", key="renew"),
    }  # fmt: skip


@bp.before_request
def _pages_for_people() -> BaseResponse | None:
    g.html_errors = "Something went wrong"
    if request.method == "GET" and request.path != "/" and not may_read():
        return redirect("/signin", code=303)
    return None


@bp.get("/")
def overview() -> BaseResponse:
    if not may_read():
        if request.args.get("signin"):
            return redirect("/signin", code=303)
        return pages.home_public()
    gw = gateway()
    now = gw.clock.now()
    mailboxes = directory()
    listing = mailboxes.page(after=request.args.get("after") or None)
    history = gw.storage.history
    everything = history.hours(None, since=now - WEEK)
    recent = history.search(MessageQuery(limit=RECENT)).messages
    return pages.render(
        "overview.html",
        census=mailboxes.census(),
        mailboxes=[mailbox_view(v) for v in listing.views],
        next_after=listing.next_after,
        messages=[message_view(m) for m in recent],
        **week(everything, now, "all mailboxes"),
        transport=gw.settings.transport,
        state=gw.storage.describe(),
        refresh=True,
    )


@bp.get("/mailboxes/<name>")
def mailbox(name: str) -> Response:
    gw = gateway()
    now = gw.clock.now()
    view = gw.admin.get(name)
    hours = gw.storage.history.hours(name, since=now - WEEK)
    mailboxes = directory()
    uses = mailboxes.pace(name)
    return pages.render(
        "mailbox.html",
        m=mailbox_view(view),
        keys=mailboxes.keys(name),
        env_keys=name == gw.settings.mailbox and bool(gw.settings.api_keys),
        suppressions=[suppression_view(s) for s in gw.admin.suppressions(name)],
        messages=[message_view(m) for m in gw.queue.page(name, limit=RECENT).messages],
        **week(hours, now, f"mailbox {name}"),
        pace=charts.pace(uses, key="pace") if uses else None,
        pace_words=[charts.pace_words(u) for u in uses],
    )


@bp.get("/mailboxes/<name>/remove")
def confirm_remove(name: str) -> Response:
    return pages.render("confirm_remove.html", m=mailbox_view(gateway().admin.get(name)))


@bp.get("/messages")
def messages() -> Response:
    form = {k: v for k, v in request.args.items() if k in message_search.FIELDS}
    try:
        found, more = message_search.search(gateway().storage.history, form)
    except InvalidRequest as error:
        return pages.render(
            "messages.html", form=form, error=error, found=None, more=None, status=400
        )
    return pages.render(
        "messages.html",
        form=form,
        error=None,
        found=[message_view(m) for m in found.messages],
        more={**form, "before": more} if more else None,
    )


@bp.get("/messages/<message_id>")
def message(message_id: str) -> Response:
    gw = gateway()
    stored = gw.storage.messages.get(message_id)
    if stored is None:
        raise message_not_found(message_id)
    return pages.render(
        "message.html",
        msg=message_view(stored),
        attempts=gw.storage.history.attempts(message_id),
        deliveries=gw.storage.history.deliveries(message_id),
        webhooks=gw.settings.webhook_url is not None,
    )
