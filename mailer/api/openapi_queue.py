"""The OpenAPI description of listing and canceling messages."""

from __future__ import annotations

from typing import Any

from mailer.sending.options import (
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    MAX_SCHEDULE_DAYS,
    MAX_TAGS,
    TAG,
)
from mailer.sending.queue import CURSOR, MAX_LIMIT, STATUSES

_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


SEND_FIELDS: dict[str, Any] = {
    "send_at": {
        "type": ["string", "null"],
        "format": "send-at",
        "description": "An RFC 3339 date-time with an offset (`Z` or `+01:00`), from now to "
        f"{MAX_SCHEDULE_DAYS} days ahead: the gateway holds the message (202 scheduled) and "
        "delivers it from then on. Null: now.",
    },
    "tags": {
        "type": ["array", "null"],
        "maxItems": MAX_TAGS,
        "items": {"type": "string", "pattern": TAG.pattern},
    },
    "metadata": {
        "type": ["object", "null"],
        "maxProperties": MAX_METADATA_KEYS,
        "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS},
        "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE_CHARS},
    },
}
VIEW_FIELDS: dict[str, Any] = {
    "mailbox": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    "source": {"enum": ["http", "smtp"]},
    "send_at": {"type": ["string", "null"], "format": "date-time"},
}

SCHEMAS: dict[str, Any] = {
    "MessagePage": {
        "type": "object",
        "required": ["messages", "next_cursor"],
        "properties": {
            "messages": {"type": "array", "items": _ref("Message")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "Canceled": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {"id": {"type": "string"}, "status": {"const": "canceled"}},
    },
}

LIST: dict[str, Any] = {
    "get": {
        "summary": "The key's mailbox's messages, newest first",
        "security": _SECURITY,
        "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "The next_cursor of the page before.",
                "schema": {"type": "string", "pattern": CURSOR.pattern},
            },
            {
                "name": "tag",
                "in": "query",
                "schema": {"type": "string", "pattern": TAG.pattern},
            },
        ],
        "responses": {
            "200": _json("A page; next_cursor is null on the last.", "MessagePage"),
            "400": _json("A bad status, limit, cursor or tag.", "Error"),
            "401": _json("Missing or wrong API key.", "Error"),
        },
    }
}

CANCEL: dict[str, Any] = {
    "operationId": "cancelMessage",
    "summary": "Cancel a queued or scheduled message",
    "security": _SECURITY,
    "parameters": [
        {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ],
    "responses": {
        "200": _json("Canceled: it will never be sent.", "Canceled"),
        "401": _json("Missing or wrong API key.", "Error"),
        "404": _json("Unknown (or another mailbox's).", "Error"),
        "409": _json("Sending, sent or failed already (not_cancelable).", "Error"),
    },
}
