"""The OpenAPI description of the admin API (mailboxes, connect links, keys)."""

from __future__ import annotations

from typing import Any

from mailer.storage.records import MAILBOX_NAME

_ADMIN: list[dict[str, list[str]]] = [{"admin": []}]
NAME_PATTERN = MAILBOX_NAME.pattern
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": NAME_PATTERN},
}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*extra: tuple[str, str]) -> dict[str, Any]:
    answers = {
        "401": ("Admin sign-in needed.", "Error"),
        "403": ("MAILER_ADMIN_KEY is not set.", "Error"),
        **{status: (text, "Error") for status, text in extra},
    }
    return {status: json_answer(text, schema) for status, (text, schema) in answers.items()}


def mailbox_create(accounts_servers: list[str], sender: dict[str, Any]) -> dict[str, Any]:
    """The body of POST /mailboxes; ``accounts_servers`` are the ones a token may be sent to."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "refresh_token": {
                "type": ["string", "null"],
                "format": "zoho-refresh-token",
                "minLength": 1,
                "maxLength": 500,
                "description": "One Zoho issued to this OAuth client at accounts_server; one "
                "Zoho refuses is 400 refresh_token_refused, and nothing is stored.",
            },
            "accounts_server": {
                "enum": [*accounts_servers, None],
                "description": "One of Zoho's accounts servers (the data centre of the refresh "
                "token), or ZOHO_ACCOUNTS_URL (the default, also for null).",
            },
            "from_address": {
                **sender,
                "description": "The default sender. " + sender["description"],
            },
        },
    }


SCHEMAS: dict[str, Any] = {
    "Mailbox": {
        "type": "object",
        "required": ["name", "status", "queue_depth"],
        "properties": {
            "name": {"type": "string"},
            "status": {"enum": ["connected", "needs_reconnect", "not_connected"]},
            "address": {"type": ["string", "null"]},
            "from_address": {"type": ["string", "null"]},
            "send_as": {"type": "array", "items": {"type": "string"}},
            "outgoing_blocked": {"type": "boolean"},
            "accounts_server": {"type": "string"},
            "token_expires_at": _TIME,
            "next_renewal_at": _TIME,
            "last_renewal": {
                "type": "object",
                "properties": {"outcome": {"type": ["string", "null"]}, "at": _TIME},
            },
            "queue_depth": {"type": "integer", "minimum": 0},
            "paused_until": _TIME,
            "hold": {"oneOf": [{"type": "null"}, _ref("Hold")]},
            "bounces": {"type": "string", "enum": ["on", "off", "needs_reconnect"]},
            "zoho_answers": {
                "type": "array",
                "items": _ref("ZohoAnswer"),
                "description": "Zoho's last answers that the gateway has no rule for, newest "
                "first (at most 10); never a token or an address.",
            },
            "refused_last_24h": {
                "type": "object",
                "description": "Sends refused by back-pressure in the last 24 hours, by reason.",
                "properties": {
                    reason: {"type": "integer", "minimum": 0}
                    for reason in ("rate_limited", "queue_full", "repeated_message")
                },
            },
            "connect_url": {"type": "string", "description": "On creation only."},
        },
    },
    "ZohoAnswer": {
        "type": "object",
        "required": ["at", "call", "http_status", "code", "description"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "call": {"type": "string", "description": "send, upload or accounts"},
            "http_status": {"type": ["integer", "null"]},
            "code": {"type": ["string", "null"], "description": "Zoho's errorCode."},
            "description": {"type": ["string", "null"], "description": "Zoho's own words."},
        },
    },
    "Hold": {
        "type": "object",
        "description": "The mailbox sends nothing but one probe every MAILER_HOLD_PROBE_MINUTES; "
        "sends are still accepted. A probe Zoho takes, or a resume, ends it.",
        "required": ["since", "reason", "zoho", "next_probe_at"],
        "properties": {
            "since": {"type": "string", "format": "date-time"},
            "reason": {"enum": ["unknown_answers", "account_blocked"]},
            "zoho": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "http_status": {"type": ["integer", "null"]},
                            "code": {"type": ["string", "null"]},
                            "description": {"type": ["string", "null"]},
                        },
                    },
                ]
            },
            "next_probe_at": {"type": "string", "format": "date-time"},
        },
    },
    "MailboxList": {
        "type": "object",
        "required": ["mailboxes"],
        "properties": {"mailboxes": {"type": "array", "items": _ref("Mailbox")}},
    },
    "ConnectLink": {
        "type": "object",
        "required": ["connect_url", "expires_at"],
        "properties": {
            "connect_url": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Suppression": {
        "type": "object",
        "required": ["address", "reason", "created_at", "message_id"],
        "properties": {
            "address": {"type": "string"},
            "reason": {"enum": ["hard_bounce", "manual"]},
            "created_at": {"type": "string", "format": "date-time"},
            "message_id": {"type": ["string", "null"]},
        },
    },
    "SuppressionList": {
        "type": "object",
        "required": ["suppressions"],
        "properties": {"suppressions": {"type": "array", "items": _ref("Suppression")}},
    },
    "IssuedKey": {
        "type": "object",
        "required": ["id", "mailbox", "key"],
        "properties": {
            "id": {"type": "string"},
            "mailbox": {"type": "string"},
            "key": {"type": "string", "description": "Shown this once; stored hashed."},
        },
    },
}

_NO_CONTENT = {"description": "Done."}
_MISSING = ("404", "No such mailbox.")

PATHS: dict[str, Any] = {
    "/api/email/mailboxes": {
        "post": {
            "summary": "Add a mailbox (connected at once with a refresh token)",
            "security": _ADMIN,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("MailboxCreate")}},
            },
            "responses": {
                "201": json_answer("Created, with a connect link.", "Mailbox"),
                **_errors(
                    ("400", "Invalid input, or Zoho refused the refresh token."),
                    ("409", "The name is taken."),
                    ("415", "Not JSON."),
                ),
            },
        },
        "get": {
            "summary": "Every mailbox",
            "security": _ADMIN,
            "responses": {"200": json_answer("The mailboxes.", "MailboxList"), **_errors()},
        },
    },
    "/api/email/mailboxes/{name}": {
        "parameters": [_NAME],
        "get": {
            "summary": "One mailbox; never a token",
            "security": _ADMIN,
            "responses": {"200": json_answer("The mailbox.", "Mailbox"), **_errors(_MISSING)},
        },
        "delete": {
            "summary": "Remove a mailbox: its token revoked at Zoho, its keys deleted, its "
            "waiting messages failed with mailbox_deleted",
            "security": _ADMIN,
            "responses": {
                "204": _NO_CONTENT,
                **_errors(_MISSING, ("409", "The mailbox comes from ZOHO_REFRESH_TOKEN.")),
            },
        },
    },
    "/api/email/mailboxes/{name}/connect-link": {
        "parameters": [_NAME],
        "post": {
            "summary": "A new single-use link that connects (or reconnects) the mailbox",
            "security": _ADMIN,
            "responses": {"201": json_answer("The link.", "ConnectLink"), **_errors(_MISSING)},
        },
    },
    "/api/email/mailboxes/{name}/resume": {
        "parameters": [_NAME],
        "post": {
            "summary": "End the mailbox's hold: its waiting mail goes out at the pace",
            "security": _ADMIN,
            "responses": {"200": json_answer("The mailbox.", "Mailbox"), **_errors(_MISSING)},
        },
    },
    "/api/email/mailboxes/{name}/suppressions": {
        "parameters": [_NAME],
        "get": {
            "summary": "The addresses the mailbox sends nothing to, newest first",
            "security": _ADMIN,
            "responses": {"200": json_answer("The list.", "SuppressionList"), **_errors(_MISSING)},
        },
        "post": {
            "summary": "Suppress an address: sends naming it are refused (422)",
            "security": _ADMIN,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["address"],
                            "properties": {
                                "address": {
                                    "type": "string",
                                    "format": "mail-address",
                                    "pattern": "@",
                                    "description": "A bare addr-spec, as email-validator reads "
                                    "it; stored in lower case.",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_answer("Suppressed.", "Suppression"),
                **_errors(_MISSING, ("400", "Not an address."), ("415", "Not JSON.")),
            },
        },
    },
    "/api/email/mailboxes/{name}/suppressions/{address}": {
        "parameters": [
            _NAME,
            {"name": "address", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "summary": "Send to the address again",
            "security": _ADMIN,
            "responses": {
                "204": _NO_CONTENT,
                **_errors(("404", "No such mailbox, or the address is not suppressed.")),
            },
        },
    },
    "/api/email/mailboxes/{name}/keys": {
        "parameters": [_NAME],
        "post": {
            "summary": "A new API key of the mailbox, shown once",
            "security": _ADMIN,
            "responses": {"201": json_answer("The key.", "IssuedKey"), **_errors(_MISSING)},
        },
    },
    "/api/email/mailboxes/{name}/keys/{key_id}": {
        "parameters": [
            _NAME,
            {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "delete": {
            "summary": "Revoke a key: it stops working at once in every worker and host",
            "security": _ADMIN,
            "responses": {"204": _NO_CONTENT, **_errors(("404", "No such key."))},
        },
    },
    "/api/email/connect/{secret}": {
        "parameters": [
            {"name": "secret", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {
            "summary": "A connect link: starts Zoho's consent for its mailbox, no password",
            "responses": {
                "302": {"description": "To Zoho's consent page."},
                "404": {"description": "Not a link of this gateway."},
                "410": {"description": "Used or expired."},
            },
        },
    },
}
