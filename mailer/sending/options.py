"""What a send request says besides the message: ``send_at``, ``tags`` and ``metadata``.

Validated as the contract says; the message itself is ``messages.parse_send_request``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailer.runtime.errors import InvalidRequest

MAX_TAGS = 10
TAG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_CHARS = 40
MAX_METADATA_VALUE_CHARS = 500
MAX_SCHEDULE_DAYS = 30
# RFC 3339: a date, "T" (or a space), a time with optional fraction, and an offset.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True)
class SendOptions:
    send_at: float | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


def _fail(field_name: str, code: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, field=field_name, code=code)


def parse_send_options(body: dict[str, Any], *, now: float) -> SendOptions:
    return SendOptions(
        send_at=_send_at(body.get("send_at"), now),
        tags=_tags(body.get("tags")),
        metadata=_metadata(body.get("metadata")),
    )


def _send_at(value: object, now: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise _fail(
            "send_at",
            "invalid_send_at",
            "send_at must be an RFC 3339 time with an offset, e.g. 2026-12-01T09:00:00+01:00",
        )
    try:
        when = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).timestamp()
    except ValueError:
        raise _fail("send_at", "invalid_send_at", "send_at is not a real date and time") from None
    if when < now - 1:
        raise _fail("send_at", "send_at_in_the_past", "send_at is in the past")
    if when > now + MAX_SCHEDULE_DAYS * 86400:
        raise _fail(
            "send_at",
            "send_at_too_far",
            f"send_at is more than {MAX_SCHEDULE_DAYS} days ahead",
        )
    return when


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise _fail("tags", "invalid_tags", f"tags must be a list of at most {MAX_TAGS} strings")
    for tag in value:
        if not isinstance(tag, str) or not TAG.match(tag):
            raise _fail("tags", "invalid_tag", "each tag is 1 to 64 of A-Z, a-z, 0-9, _ and -")
    return tuple(dict.fromkeys(value))  # in order, once each


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise _fail(
            "metadata",
            "invalid_metadata",
            f"metadata must be an object of at most {MAX_METADATA_KEYS} string values",
        )
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_CHARS:
            raise _fail(
                "metadata",
                "invalid_metadata",
                f"each metadata key is 1 to {MAX_METADATA_KEY_CHARS} characters",
            )
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE_CHARS:
            raise _fail(
                "metadata",
                "invalid_metadata",
                f"each metadata value is a string of at most {MAX_METADATA_VALUE_CHARS} characters",
            )
    return dict(value)
