"""The console's sign-in: a form that takes MAILER_ADMIN_KEY and opens a session.

The session cookie is signed with a key derived from MAILER_ADMIN_KEY (so every worker and
host agrees, and a new admin key signs everyone out), `HttpOnly`, `SameSite=Strict`, and
`Secure` under https. It carries a random id whose digest is stored, so signing out ends the
session for good. Every form's POST needs that session, Flask-WTF's CSRF token and an
`Origin` (when the browser sends one) of this site; HTTP Basic only opens pages for reading.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Request, Response, g, redirect, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.wrappers.response import Response as BaseResponse

from mailer.api import pages
from mailer.api.incoming import gateway, is_admin
from mailer.mailboxes.api_keys import key_matches
from mailer.runtime.digests import digest
from mailer.runtime.errors import Forbidden

log = logging.getLogger(__name__)

bp = Blueprint("signin", __name__)
csrf = CSRFProtect()

SESSION_HOURS = 12
COOKIE = "mailer_console"


class _ConsoleCookie(SecureCookieSessionInterface):
    """Flask's signed cookie, `Secure` whenever the browser came over https (directly, or
    through a proxy that says so: a forged header only makes the cookie stricter). A request
    without the cookie (every API call) gets an empty session without building the signer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
        return request.is_secure or forwarded.lower() == "https"


def install(app: Flask) -> None:
    """Sessions and CSRF protection for the console's forms (the JSON API needs neither)."""
    admin_key = gateway_admin_key(app)
    app.secret_key = (
        hmac.new(admin_key.encode(), b"mailer console session", hashlib.sha256).hexdigest()
        if admin_key
        else secrets.token_hex(32)  # no admin key: no one can sign in; the key is moot
    )
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the console's forms only
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    app.session_interface = _ConsoleCookie()
    csrf.init_app(app)
    app.register_blueprint(bp)


def gateway_admin_key(app: Flask) -> str | None:
    return app.extensions["mailer"].settings.admin_key  # type: ignore[no-any-return]


def signed_in() -> bool:
    """Whether the browser holds a live session (a form's POST needs one); looked up once a
    request (the page's check and its template both ask)."""
    if "signed_in" not in g:
        sid = session.get("sid")
        g.signed_in = (
            isinstance(sid, str)
            and gateway().settings.admin_key is not None
            and gateway().storage.console_sessions.valid(digest(sid), now=gateway().clock.now())
        )
    return bool(g.signed_in)


def may_read() -> bool:
    """Whether the console's pages open: a session, or HTTP Basic with the admin key."""
    return signed_in() or is_admin()


def check_form() -> None:
    """Refuse (403, nothing changed) a form's POST that is not from a signed-in page of this
    site: no session, a missing or wrong CSRF token, or another site's Origin."""
    _same_origin()
    try:
        csrf.protect()
    except CSRFError as exc:
        raise Forbidden(
            f"this form is stale or not from this site ({exc.description}); reload the page",
            code="csrf_failed",
        ) from exc


def _same_origin() -> None:
    """The browser's own word on where the form came from. A proxy that rewrites the Host
    header says the public one in X-Forwarded-Host (a cross-site form cannot set it)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("a form from another site is refused", code="cross_site_request")
    origin = request.headers.get("Origin")
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if origin is not None and urlsplit(origin).netloc not in (request.host, forwarded):
        raise Forbidden("a form from another site is refused", code="cross_site_request")


@bp.get("/signin")
def signin_form() -> Response:
    return pages.signin(error=None, enabled=gateway().settings.admin_key is not None)


@bp.post("/signin")
def signin() -> BaseResponse:
    check_form()
    admin_key = gateway().settings.admin_key
    given = request.form.get("password", "")
    if admin_key is None or not key_matches(given, (admin_key,)):
        log.warning("console: a sign-in with a wrong key from %s", request.remote_addr)
        return pages.signin(
            error="That is not the admin key.", enabled=admin_key is not None, status=401
        )
    sid = secrets.token_urlsafe(32)
    now = gateway().clock.now()
    gateway().storage.console_sessions.open(
        digest(sid), now=now, expires_at=now + SESSION_HOURS * 3600
    )
    log.info("console: signed in from %s", request.remote_addr)
    session.clear()  # a new session: no token or id from before sign-in carries over
    session["sid"] = sid
    session.permanent = True
    generate_csrf()  # the session's token from the start: every page rendered now agrees
    return redirect("/", code=303)


@bp.post("/signout")
def signout() -> BaseResponse:
    check_form()
    sid = session.get("sid")
    if isinstance(sid, str):
        gateway().storage.console_sessions.close(digest(sid))
    session.clear()
    return redirect("/", code=303)
