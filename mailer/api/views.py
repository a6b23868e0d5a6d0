"""The /api/email blueprint: thin views that validate, make one service call, and answer."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, g, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from mailer.api import answers, openapi, pages
from mailer.api.incoming import gateway, has_api_key, read_json, require_admin, require_api_key
from mailer.consent import AlreadyConnected
from mailer.errors import NotFound, StateBusy, StateUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("email", __name__, url_prefix="/api/email")

CONSENT_COOKIE = "mailer_consent"


@bp.get("/auth")
def auth() -> BaseResponse:
    require_admin()
    redirect_to = urlsplit(gateway().settings.zoho_redirect_uri)
    if request.host.split(":")[0].lower() != (redirect_to.hostname or "") and not request.args.get(
        "hop"
    ):
        # The flow's cookie must be set on the host Zoho sends the browser back to (cookies
        # know hosts, not ports); one hop at most, in case a proxy rewrites the host.
        target = f"{redirect_to.scheme}://{redirect_to.netloc}{request.path}"
        log.info(
            "consent flow opened at %s; continuing at %s, the host of ZOHO_REDIRECT_URI",
            request.host,
            redirect_to.netloc,
        )
        return redirect(f"{target}?{urlencode({**request.args, 'hop': '1'})}", code=302)
    start = gateway().consent_flow().start()
    response = redirect(start.url, code=302)
    response.set_cookie(
        CONSENT_COOKIE,
        start.browser_nonce,
        max_age=600,
        path="/api/email",
        httponly=True,
        samesite="Lax",
        secure=redirect_to.scheme == "https",
    )
    response.headers.update(pages.PAGE_HEADERS)
    return response


@bp.get("/callback")
def callback() -> Response:
    g.html_errors = True
    outcome = (
        gateway()
        .consent_flow()
        .finish(request.args, request.cookies.get(CONSENT_COOKIE), host=request.host)
    )
    if isinstance(outcome, AlreadyConnected):
        return pages.already_connected(outcome)
    response = pages.connected(outcome)
    response.delete_cookie(CONSENT_COOKIE, path="/api/email")
    return response


@bp.post("/send")
def send() -> tuple[Response, int]:
    require_api_key()
    answer = gateway().sending.send(
        read_json(),
        idempotency_key=request.headers.get("Idempotency-Key"),
        request_id=g.request_id,
    )
    response = jsonify(answer.body)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, answer.status


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document())


@bp.get("/messages/<message_id>")
def message(message_id: str) -> Response:
    require_api_key()
    stored = gateway().outbox.get(message_id)
    if stored is None:
        raise NotFound(
            f"no message {message_id[:80]!r} (unknown, or purged after retention)",
            code="message_not_found",
        )
    return jsonify(answers.message(stored))


@bp.get("/status")
def status() -> tuple[Response, int]:
    """Readiness: 200 when a send would be attempted now."""
    try:
        readiness = gateway().transport.readiness()
        stats = gateway().outbox.stats() if has_api_key() else None
    except (StateUnavailable, StateBusy) as exc:
        return jsonify(answers.state_trouble(exc, ready=False)), 503
    return jsonify(answers.status(readiness, stats)), 200 if readiness.ready else 503


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Liveness: the process serves and the state store answers (connected or not)."""
    try:
        gateway().storage.ping()
    except (StateUnavailable, StateBusy) as exc:
        return jsonify(answers.state_trouble(exc, ok=False)), 503
    return jsonify({"ok": True}), 200
