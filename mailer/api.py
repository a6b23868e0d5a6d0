"""The /api/email blueprint: thin views, one JSON error shape for every error."""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import uuid
from typing import Any, NoReturn

from flask import Blueprint, Flask, Response, current_app, g, jsonify, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from mailer import openapi
from mailer.errors import (
    Forbidden,
    GatewayError,
    InvalidRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from mailer.gateway import Gateway

log = logging.getLogger(__name__)

bp = Blueprint("email", __name__, url_prefix="/api/email")

CONSENT_COOKIE = "mailer_consent"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def gateway() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


def _key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time, so that timing tells nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate.encode(), key.encode())
    return matched


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def has_api_key() -> bool:
    """Whether the request carries one of the configured keys (or none are needed)."""
    keys = gateway().settings.api_keys
    if not keys:
        return gateway().open_without_keys
    candidate = _bearer()
    return candidate is not None and _key_matches(candidate, keys)


def require_api_key() -> None:
    if not has_api_key():
        raise Unauthorized(
            "send `Authorization: Bearer <key>` with one of the keys in MAILER_API_KEYS",
            code="unauthorized",
        )


def require_admin() -> None:
    admin_key = gateway().settings.admin_key
    if admin_key is None:
        raise Forbidden(
            "setup through the browser is off: set MAILER_ADMIN_KEY to enable /api/email/auth",
            code="admin_disabled",
        )
    auth = request.authorization
    password = auth.password if auth is not None and auth.type == "basic" else None
    if password is None or not _key_matches(password, (admin_key,)):
        raise Unauthorized(
            "sign in with any user name and MAILER_ADMIN_KEY as the password", code="admin_required"
        )


def read_json() -> Any:
    """The request body as JSON; 415 when it is not declared JSON, 400 when it is not JSON."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with `Content-Type: application/json`")
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from exc


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


@bp.get("/auth")
def auth() -> BaseResponse:
    require_admin()
    start = gateway().consent_flow().start()
    response = redirect(start.url, code=302)
    response.set_cookie(
        CONSENT_COOKIE,
        start.browser_nonce,
        max_age=600,
        path="/api/email",
        httponly=True,
        samesite="Lax",
        secure=gateway().settings.zoho_redirect_uri.startswith("https://"),
    )
    response.headers.update(_PAGE_HEADERS)
    return response


@bp.get("/callback")
def callback() -> Response:
    g.html_errors = True
    connected = gateway().consent_flow().finish(request.args, request.cookies.get(CONSENT_COOKIE))
    env = "\n".join(html.escape(line) for line in connected.env_lines)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zoho mailbox connected</title></head>
<body style="font-family: sans-serif; max-width: 46rem; margin: 2rem auto">
<h1>Connected: {html.escape(connected.account.primary_address)}</h1>
<p>The gateway now sends from <strong>{html.escape(connected.account.primary_address)}</strong>
(Zoho account {html.escape(connected.account.account_id)}), through
{html.escape(connected.mail_api_url)}. Every worker uses it at once; no restart is needed.</p>
<p>Allowed senders: {html.escape(", ".join(connected.account.send_as))}</p>
<h2>The refresh token, shown this once</h2>
<p>The gateway has stored it. If your deployment keeps no disk between restarts, put these
lines in its environment (or <code>.env</code>) now; this page will not show them again.</p>
<pre style="background:#f4f4f4; padding:1rem; white-space:pre-wrap; word-break:break-all">{env}</pre>
</body></html>
"""
    response = Response(page, status=200, mimetype="text/html")
    response.headers.update(_PAGE_HEADERS)
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
    view = gateway().spool.view(message_id)
    if view is None:
        raise NotFound(
            f"no message {message_id[:80]!r} (unknown, or purged after retention)",
            code="message_not_found",
        )
    return jsonify(view)


@bp.get("/status")
def status() -> tuple[Response, int]:
    readiness = gateway().transport.readiness()
    body: dict[str, Any] = {"ready": readiness.ready, "reason": readiness.reason}
    if has_api_key():
        body.update(readiness.details)
        body.update(gateway().spool.stats())
    return jsonify(body), 200 if readiness.ready else 503


# Every answer carries a request id; every error is JSON (or a page, on the browser's callback).


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def _error_response(error: GatewayError) -> Response:
    if g.get("html_errors") and request.accept_mimetypes.accept_html:
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Setup failed</title></head>
<body style="font-family: sans-serif; max-width: 46rem; margin: 2rem auto">
<h1>The mailbox was not connected</h1><p>{html.escape(error.message)}</p>
<p><small>code: {html.escape(error.code)}</small></p></body></html>
"""
        response = Response(page, status=error.status, mimetype="text/html")
        response.headers.update(_PAGE_HEADERS)
    else:
        response = jsonify(error.body())
        response.status_code = error.status
    if isinstance(error, Unauthorized):
        realm = "mailer admin" if error.code == "admin_required" else "mailer"
        scheme = "Basic" if error.code == "admin_required" else "Bearer"
        response.headers["WWW-Authenticate"] = f'{scheme} realm="{realm}"'
    if isinstance(error, NotReady) and error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(int(error.retry_after_seconds + 0.999))
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        return _error_response(
            PayloadTooLarge(
                f"the body is over MAILER_MAX_REQUEST_MB ({gateway().settings.max_request_mb} MB)"
            )
        )
    code = re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")
    response = _error_response(
        GatewayError(exc.description or exc.name, code=code).with_status(status)
    )
    if status == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
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
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.register_error_handler(GatewayError, _error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
