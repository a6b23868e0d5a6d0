"""What every view reads from a request: the gateway, the caller's key or password, the JSON body."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import current_app, request

from mailer.composition.gateway import Gateway
from mailer.mailboxes.api_keys import key_matches
from mailer.runtime.errors import Forbidden, InvalidRequest, Unauthorized, UnsupportedMediaType


def gateway() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def caller_mailbox() -> str | None:
    """The mailbox the request's key belongs to; the environment's for anyone on a dry run
    with no keys configured; else None."""
    candidate = bearer()
    mailbox = gateway().keys.mailbox_for(candidate)
    if mailbox is None and gateway().open_without_keys:
        return gateway().settings.mailbox
    return mailbox


def require_api_key() -> str:
    """The caller's mailbox; 401 without a valid key."""
    mailbox = caller_mailbox()
    if mailbox is None:
        raise Unauthorized(
            "send `Authorization: Bearer <key>` with one of the keys in MAILER_API_KEYS, or a "
            "key issued for your mailbox",
            code="unauthorized",
        )
    return mailbox


def is_admin() -> bool:
    """Whether the request signs in with MAILER_ADMIN_KEY (HTTP Basic, any user name)."""
    admin_key = gateway().settings.admin_key
    auth = request.authorization
    password = auth.password if auth is not None and auth.type == "basic" else None
    return admin_key is not None and password is not None and key_matches(password, (admin_key,))


def require_admin() -> None:
    admin_key = gateway().settings.admin_key
    if admin_key is None:
        raise Forbidden(
            "setup through the browser is off: set MAILER_ADMIN_KEY to enable /api/email/auth",
            code="admin_disabled",
        )
    auth = request.authorization
    password = auth.password if auth is not None and auth.type == "basic" else None
    if password is None or not key_matches(password, (admin_key,)):
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
