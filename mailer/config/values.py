"""What a setting's value may be: parsers and checks of single values, pure (but for the
defaults they name). ``settings.from_env`` applies them and reports every problem at once."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from mailer.runtime.pacing import RateLimit
from mailer.storage import is_postgres_url

DEFAULT_DB = "instance/mailer.sqlite3"


def db_password(location: str) -> str | None:
    if not is_postgres_url(location) or not parses_as_url(location):
        return None
    return urlsplit(location).password


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


def parses_as_url(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 - raises on a bad host or port
    except ValueError:
        return False
    return True


def db_location(environ: Mapping[str, str]) -> str:
    """MAILER_DB; else a PostgreSQL DATABASE_URL (the platforms' convention); else the file."""
    explicit = environ.get("MAILER_DB", "").strip()
    if explicit:
        return explicit
    platform = environ.get("DATABASE_URL", "").strip()
    return platform if is_postgres_url(platform) else DEFAULT_DB


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate_limits(text: str) -> tuple[RateLimit, ...]:
    """Parse ``N/second;N/minute;N/hour;N/day`` (or ``off``) into limits; raises ValueError."""
    text = text.strip()
    if text.lower() == "off":
        return ()
    limits: list[RateLimit] = []
    for part in text.split(";"):
        count_text, _, unit = part.strip().partition("/")
        if unit.strip().lower() not in _UNITS or not count_text.strip().isdigit():
            raise ValueError(f"{part.strip()!r} is not N/second, N/minute, N/hour or N/day")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"{part.strip()!r} must allow at least one call")
        limits.append(RateLimit(count, _UNITS[unit.strip().lower()]))
    return tuple(limits)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: str) -> str | None:
    """Why ``value`` is not a usable upstream base URL, or None when it is."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must use https (plain http is allowed only for loopback test servers)"
    if parts.query or parts.fragment:
        return "must not carry a query or fragment"
    return None


def webhook_key(secret: str) -> bytes | None:
    """The signing key of a Standard Webhooks secret (``whsec_`` and base64), or None."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (ValueError, binascii.Error):
        return None
    return key if len(key) >= 16 else None
