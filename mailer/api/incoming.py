"""What every view reads from a request: the gateway, the caller's key or password, the JSON body."""

from __future__ import annotations

import hmac
import json
from typing import Any, NoReturn

from flask import current_app, request

from mailer.errors import Forbidden, InvalidRequest, Unauthorized, UnsupportedMediaType
from mailer.gateway import Gateway


def gateway() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


def key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time, so that timing tells nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate.encode(), key.encode())
    return matched


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def has_api_key() -> bool:
    """Whether the request carries one of the configured keys (or none are needed)."""
    keys = gateway().settings.api_keys
    if not keys:
        return gateway().open_without_keys
    candidate = bearer()
    return candidate is not None and key_matches(candidate, keys)


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
