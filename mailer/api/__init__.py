"""The HTTP API: the blueprint, and one JSON error shape for every error (Werkzeug's included)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from mailer.api import admin, console, console_actions, ops, pages, signin
from mailer.api.incoming import gateway
from mailer.api.views import bp
from mailer.runtime import metrics
from mailer.runtime.errors import GatewayError, NotReady, PayloadTooLarge, Refused, Unauthorized

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# Every answer carries a request id; every error is JSON (or a page, on the browser's callback).


def _assign_request_id() -> None:
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.http_request(
        route, request.method, response.status_code, time.perf_counter() - g.get("started", 0.0)
    )
    return response


def _error_response(error: GatewayError) -> Response:
    if g.get("html_errors") and request.accept_mimetypes.accept_html:
        response = pages.error_page(error, g.html_errors)
    else:
        response = jsonify(error.body())
        response.status_code = error.status
    if isinstance(error, Unauthorized):
        realm = "mailer admin" if error.code == "admin_required" else "mailer"
        scheme = "Basic" if error.code == "admin_required" else "Bearer"
        response.headers["WWW-Authenticate"] = f'{scheme} realm="{realm}"'
    if isinstance(error, NotReady | Refused) and error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(int(error.retry_after_seconds + 0.999))
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        limit = gateway().settings.max_request_mb
        return _error_response(
            PayloadTooLarge(
                f"the body is over MAILER_MAX_REQUEST_MB ({limit} MB); attachments travel "
                f"base64-encoded in it, so together they can be about {limit * 3 / 4:g} MB"
            )
        )
    code = re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")
    allowed = exc.get_response().headers.get("Allow") if status == 405 else None
    if status == 404:
        message = (
            f"no endpoint at {request.path[:200]}; the API lives under /api/email "
            "(send, messages, status, health, auth); /api/email/openapi.json describes it"
        )
    elif allowed:
        message = f"{request.method} is not allowed on {request.path[:200]}; allowed: {allowed}"
    else:
        message = exc.description or exc.name
    response = _error_response(GatewayError(message, code=code).with_status(status))
    if allowed:
        response.headers["Allow"] = allowed
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error request_id=%s", g.get("request_id"))
    error = GatewayError(
        f"unexpected error; quote request id {g.get('request_id')} when reporting it",
        code="internal_error",
    )
    response = jsonify({"error": {**error.body()["error"], "request_id": g.get("request_id")}})
    response.status_code = 500
    return response


def register(app: Flask) -> None:
    """Attach the blueprint and the JSON error handling to ``app``."""
    app.register_blueprint(bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(console_actions.bp)
    signin.install(app)
    pages.install(app, signin.signed_in)
    app.register_blueprint(ops.bp)
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(GatewayError, _error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
