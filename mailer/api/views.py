"""The /api/email blueprint: thin views that validate, make one service call, and answer."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Response, g, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from mailer.api import answers, openapi, pages
from mailer.api.idempotency import send_once
from mailer.api.incoming import (
    caller_mailbox,
    gateway,
    read_json,
    require_admin,
    require_api_key,
)
from mailer.mailboxes.admin import check_name
from mailer.mailboxes.consent_state import AlreadyConnected
from mailer.runtime.errors import GatewayError, StateBusy, StateUnavailable
from mailer.sending.queue import message_not_found
from mailer.sending.view import message_view, page_view, status_view

log = logging.getLogger(__name__)

bp = Blueprint("email", __name__, url_prefix="/api/email")

CONSENT_COOKIE = "mailer_consent"


@bp.get("/auth")
def auth() -> BaseResponse:
    require_admin()
    mailbox = check_name(request.args.get("mailbox", gateway().settings.mailbox), "mailbox")
    gateway().admin.get(mailbox)  # 404 for a mailbox that does not exist
    return _hop() or _consent(mailbox, via_link=False)


# A connect link that cannot start a consent, in words for its holder.
LINK_HEADINGS = {
    "connect_link_used": "This connect link was used",
    "connect_link_expired": "This connect link expired",
    "connect_link_not_found": "This is not a connect link of this gateway",
}


@bp.get("/connect/<secret>")
def connect(secret: str) -> BaseResponse:
    """A connect link: no password; the link itself is the permission, once."""
    g.html_errors = "The mailbox was not connected"
    hop = _hop()
    if hop is not None:
        return hop
    try:
        mailbox = gateway().admin.open_link(secret)
    except GatewayError as error:
        g.html_errors = LINK_HEADINGS.get(error.code, g.html_errors)
        raise
    return _consent(mailbox, via_link=True)


def _hop() -> BaseResponse | None:
    """The flow's cookie must be set on the host Zoho sends the browser back to (cookies know
    hosts, not ports): continue there first; one hop at most, in case a proxy rewrites it."""
    redirect_to = urlsplit(gateway().settings.zoho_redirect_uri)
    if request.host.split(":")[0].lower() == (redirect_to.hostname or "") or request.args.get(
        "hop"
    ):
        return None
    # Quoted: the path is the caller's, and a control character must not reach the header.
    target = f"{redirect_to.scheme}://{redirect_to.netloc}{quote(request.path)}"
    log.info(
        "consent flow opened at %s; continuing at %s, the host of ZOHO_REDIRECT_URI",
        request.host,
        redirect_to.netloc,
    )
    response = redirect(f"{target}?{urlencode({**request.args, 'hop': '1'})}", code=302)
    response.headers.update(pages.PAGE_HEADERS)
    return response


def _consent(mailbox: str, *, via_link: bool) -> BaseResponse:
    start = gateway().consent.start(mailbox, via_link=via_link)
    response = redirect(start.url, code=302)
    response.set_cookie(
        CONSENT_COOKIE,
        start.browser_nonce,
        max_age=600,
        path="/api/email",
        httponly=True,
        samesite="Lax",
        secure=urlsplit(gateway().settings.zoho_redirect_uri).scheme == "https",
    )
    response.headers.update(pages.PAGE_HEADERS)
    return response


@bp.get("/callback")
def callback() -> Response:
    g.html_errors = "The mailbox was not connected"
    outcome = gateway().consent.finish(
        request.args, request.cookies.get(CONSENT_COOKIE), host=request.host
    )
    if isinstance(outcome, AlreadyConnected):
        return pages.already_connected(outcome)
    response = pages.connected(outcome)
    response.delete_cookie(CONSENT_COOKIE, path="/api/email")
    return response


@bp.post("/send")
def send() -> tuple[Response, int]:
    mailbox = require_api_key()
    answer = send_once(
        gateway(),
        read_json(),
        key=request.headers.get("Idempotency-Key"),
        mailbox=mailbox,
        request_id=g.request_id,
    )
    response = jsonify(answer.body)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, answer.status


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document(gateway().settings.zoho_accounts_url))


@bp.get("/messages/<message_id>")
def message(message_id: str) -> Response:
    mailbox = require_api_key()
    stored = gateway().parts(mailbox).outbox.get(message_id)
    if stored is None:
        raise message_not_found(message_id)
    return jsonify(message_view(stored))


@bp.delete("/messages/<message_id>")
def cancel(message_id: str) -> Response:
    mailbox = require_api_key()
    stored = gateway().queue.cancel(mailbox, message_id)
    return jsonify({"id": stored.id, "status": stored.status})


@bp.get("/messages")
def messages() -> Response:
    mailbox = require_api_key()
    page = gateway().queue.page(
        mailbox,
        status=request.args.get("status"),
        limit=request.args.get("limit"),
        cursor=request.args.get("cursor"),
        tag=request.args.get("tag"),
    )
    return jsonify(page_view(page))


@bp.get("/status")
def status() -> tuple[Response, int]:
    """Readiness: 200 when a send would be attempted now."""
    try:
        mailbox = caller_mailbox()
        parts = gateway().parts(mailbox or gateway().settings.mailbox)
        readiness = parts.transport.readiness()
        stats = parts.outbox.stats() if mailbox is not None else None
        hold = stats.hold if stats is not None else parts.outbox.hold()
    except (StateUnavailable, StateBusy) as exc:
        return jsonify(answers.state_trouble(exc, ready=False)), 503
    body = status_view(readiness, stats, mailbox, hold)
    return jsonify(body), 200 if body["ready"] else 503


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Liveness: the process serves and the state store answers (connected or not)."""
    try:
        gateway().storage.ping()
    except (StateUnavailable, StateBusy) as exc:
        return jsonify(answers.state_trouble(exc, ok=False)), 503
    return jsonify({"ok": True}), 200
