"""The admin console's forms (``POST``): each checked by ``signin.check_form`` (a session, the
CSRF token, this site's Origin), then done by the same service as the admin API."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, flash, g, redirect, request
from werkzeug.wrappers.response import Response as BaseResponse

from mailer.api import pages
from mailer.api.incoming import gateway
from mailer.api.signin import check_form, signed_in
from mailer.mailboxes.connect_links import ConnectLinkIssued
from mailer.mailboxes.view import connect_link_view
from mailer.runtime.clock import utc_iso
from mailer.runtime.errors import Forbidden, InvalidRequest
from mailer.sending.queue import message_not_found

bp = Blueprint("console_actions", __name__)


@bp.before_request
def _signed_in_forms_only() -> None:
    g.html_errors = "That did not work"
    check_form()
    if not signed_in():
        raise Forbidden(
            "sign in to the console first (HTTP Basic opens pages for reading only)",
            code="signin_required",
        )


def _back(path: str, note: str) -> BaseResponse:
    flash(note)
    return redirect(path, code=303)


def _mailbox_path(name: str) -> str:
    return f"/mailboxes/{quote(name)}"


@bp.post("/mailboxes")
def add_mailbox() -> BaseResponse:
    name = request.form.get("name", "").strip()
    try:
        created = gateway().admin.create({"name": name})
    except InvalidRequest as error:
        flash(f"Not added: {error.message}")
        return redirect("/", code=303)
    return _show_link(
        f"Mailbox {name} added",
        "Send this connect link to the mailbox's owner. It connects the mailbox once, "
        "without the admin key, until it expires.",
        created.link,
        name,
    )


@bp.post("/mailboxes/<name>/connect-link")
def reconnect(name: str) -> BaseResponse:
    return _show_link(
        f"Reconnect mailbox {name}",
        "Open this link to connect the mailbox in this browser, or send it to the "
        "mailbox's owner. It works once, until it expires.",
        gateway().admin.connect_link(name),
        name,
        open_link=True,
    )


def _show_link(
    heading: str, what: str, issued: ConnectLinkIssued, name: str, *, open_link: bool = False
) -> BaseResponse:
    """A connect link, shown to copy (201: it was made just now)."""
    link = connect_link_view(issued)
    return pages.render(
        "shown_once.html",
        heading=heading,
        what=what,
        label="Connect link",
        secret=link["connect_url"],
        expires_at=link["expires_at"],
        back=_mailbox_path(name),
        open_link=open_link,
        status=201,
    )


@bp.post("/mailboxes/<name>/remove")
def remove(name: str) -> BaseResponse:
    gateway().admin.delete(name)
    return _back("/", f"Mailbox {name} removed: its refresh token revoked, its keys deleted.")


@bp.post("/mailboxes/<name>/resume")
def resume(name: str) -> BaseResponse:
    gateway().admin.resume(name)
    return _back(_mailbox_path(name), "Resumed: its waiting mail goes out at the pace.")


@bp.post("/mailboxes/<name>/keys")
def create_key(name: str) -> BaseResponse:
    issued = gateway().admin.issue_key(name)
    return pages.render(
        "shown_once.html",
        heading=f"New API key {issued.id} of mailbox {name}",
        what="Copy it now: it is stored hashed and never shown again.",
        label="API key",
        secret=issued.key,
        expires_at=None,
        back=_mailbox_path(name),
        status=201,
    )


@bp.post("/mailboxes/<name>/keys/<key_id>/revoke")
def revoke_key(name: str, key_id: str) -> BaseResponse:
    gateway().admin.revoke_key(key_id, name)
    return _back(_mailbox_path(name), f"Key {key_id} revoked: it stopped working at once.")


@bp.post("/mailboxes/<name>/suppressions/remove")
def unsuppress(name: str) -> BaseResponse:
    address = request.form.get("address", "")
    gateway().admin.unsuppress(name, address)
    return _back(_mailbox_path(name), f"{address} removed from the suppression list.")


@bp.post("/messages/<message_id>/cancel")
def cancel(message_id: str) -> BaseResponse:
    gateway().queue.cancel(_mailbox_of(message_id), message_id)
    return _back(f"/messages/{quote(message_id)}", "Canceled: it will not be sent.")


@bp.post("/messages/<message_id>/retry")
def retry(message_id: str) -> BaseResponse:
    again = gateway().queue.requeue(_mailbox_of(message_id), message_id)
    return _back(
        f"/messages/{quote(message_id)}",
        f"Queued again at {utc_iso(again.next_attempt_at)}, attempts counted anew.",
    )


def _mailbox_of(message_id: str) -> str:
    stored = gateway().storage.messages.get(message_id)
    if stored is None:
        raise message_not_found(message_id)
    return stored.mailbox
