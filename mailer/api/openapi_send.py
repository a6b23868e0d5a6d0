"""The OpenAPI description of the send request: every field's exact constraints, and the
named formats for what JSON Schema cannot say (address syntax, a time relative to now)."""

from __future__ import annotations

from typing import Any

from mailer.api import openapi_queue
from mailer.sending.request import (
    BASE64,
    CONTENT_ID,
    CONTENT_TYPE,
    MAX_ATTACHMENTS,
    MAX_RECIPIENTS,
    MAX_SUBJECT_CHARS,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Formats JSON Schema has no keyword for; each is defined by its description.
ADDRESS_FORMAT = "mail-address"
RECIPIENT_FORMAT = "mail-recipient"
RECIPIENT_LIST_FORMAT = "mail-recipient-list"
_RULES = (
    "as RFC 5322 and email-validator read it (no DNS look-up; an ASCII local part; an "
    "international domain is sent as xn--)"
)
_RECIPIENT = {
    "type": "string",
    "format": RECIPIENT_FORMAT,
    "description": f"`addr@domain` or `Name <addr@domain>`, {_RULES}.",
}
_RECIPIENT_LIST = {
    "type": "string",
    "format": RECIPIENT_LIST_FORMAT,
    # Not blank: an empty `to` is a missing one, and an empty `cc` is its own form below.
    "minLength": 1,
    "pattern": r"\S",
    "description": "One or several comma-separated recipients, each as `mail-recipient`.",
}
SENDER: dict[str, Any] = {
    "type": ["string", "null"],
    "format": ADDRESS_FORMAT,
    "description": f"A bare `addr@domain`, {_RULES}; Zoho sends with the display name set for "
    "it in Zoho Mail. Null: not given.",
}


def _addresses(required: bool) -> dict[str, Any]:
    """``to`` (required: not empty) or ``cc``/``bcc`` (empty or null: none)."""
    forms: list[dict[str, Any]] = [
        _RECIPIENT_LIST,
        {"type": "array", "items": _RECIPIENT, "minItems": 1, "maxItems": MAX_RECIPIENTS},
    ]
    if not required:
        forms += [{"const": ""}, {"type": "array", "maxItems": 0}, {"type": "null"}]
    return {
        "description": "One address, several comma-separated, or a list; each `addr@domain` or "
        f"`Name <addr@domain>`. At most {MAX_RECIPIENTS} in to, cc and bcc together.",
        "oneOf": forms,
    }


# Text that is not blank and holds no line break or other control character.
_ONE_LINE = r"^[^\x00-\x08\x0a-\x1f\x7f]*[^\s\x00-\x08\x0a-\x1f\x7f][^\x00-\x08\x0a-\x1f\x7f]*$"
_FILE_NAME = (
    r"^[^/\\\x00-\x08\x0a-\x1f\x7f]*[^/\\\s\x00-\x08\x0a-\x1f\x7f][^/\\\x00-\x08\x0a-\x1f\x7f]*$"
)
_BODY = {"type": ["string", "null"], "description": "Empty or null: not given."}
_NOT_BLANK = {"type": "string", "minLength": 1}

SCHEMAS: dict[str, Any] = {
    "SendRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "subject"],
        "anyOf": [
            {"required": ["html"], "properties": {"html": _NOT_BLANK}},
            {"required": ["text"], "properties": {"text": _NOT_BLANK}},
        ],
        # An inline image is part of the HTML body.
        "if": {
            "required": ["attachments"],
            "properties": {
                "attachments": {"type": "array", "contains": {"required": ["content_id"]}}
            },
        },
        "then": {"required": ["html"], "properties": {"html": _NOT_BLANK}},
        "properties": {
            "to": _addresses(required=True),
            "cc": _addresses(required=False),
            "bcc": _addresses(required=False),
            "from": {
                **SENDER,
                "description": "One of the mailbox's send-as addresses, bare; another is 403 "
                "sender_not_allowed. " + SENDER["description"],
            },
            "subject": {"type": "string", "maxLength": MAX_SUBJECT_CHARS, "pattern": _ONE_LINE},
            "html": {**_BODY, "description": "Wins over text when both are given."},
            "text": _BODY,
            "attachments": {
                "type": ["array", "null"],
                "maxItems": MAX_ATTACHMENTS,
                "items": _ref("Attachment"),
            },
            **openapi_queue.SEND_FIELDS,
        },
    },
    "Attachment": {
        "type": "object",
        "additionalProperties": False,
        "required": ["filename", "content"],
        "properties": {
            "filename": {"type": "string", "maxLength": 255, "pattern": _FILE_NAME},
            "content": {"type": "string", "contentEncoding": "base64", "pattern": BASE64.pattern},
            "content_type": {
                "type": "string",
                "pattern": CONTENT_TYPE.pattern,
                "default": "application/octet-stream",
            },
            "content_id": {
                "type": ["string", "null"],
                "pattern": CONTENT_ID.pattern,
                "description": "Makes it an inline image: the HTML refers to it as "
                "cid:<content_id> (needs html). Used twice, the first one is the image.",
            },
        },
    },
}
