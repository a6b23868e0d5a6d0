"""The OpenAPI 3.1 description of the gateway's endpoints, served at /api/email/openapi.json."""

from __future__ import annotations

from typing import Any

from mailer.api import openapi_mailboxes, openapi_queue, openapi_send, openapi_setup
from mailer.api.idempotency import MAX_IDEMPOTENCY_KEY_CHARS
from mailer.config.data_centres import DATA_CENTRES
from mailer.sending.queue import STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Any value is taken; one of 1-128 of [A-Za-z0-9._:-] is echoed back, "
    "any other is replaced by a generated one.",
    "schema": {"type": "string"},
}
SCHEMAS: dict[str, Any] = {
    **openapi_send.SCHEMAS,
    "SendResult": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "description": "The gateway's id of the message."},
            "status": {"type": "string", "enum": ["sent"]},
            "zoho_message_id": {"type": ["string", "null"]},
            "mail_id": {"type": ["string", "null"], "description": "The Message-ID header."},
            "dry_run": {"type": "boolean"},
        },
    },
    "Queued": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "scheduled", "sending"]},
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "status", "attempts"],
        "properties": {
            "id": {"type": "string"},
            **openapi_queue.VIEW_FIELDS,
            "status": {"type": "string", "enum": list(STATUSES)},
            "subject": {"type": "string"},
            "to": {"type": "array", "items": {"type": "string"}},
            "cc": {"type": "array", "items": {"type": "string"}},
            "bcc_count": {"type": "integer", "minimum": 0},
            "attempts": {"type": "integer"},
            "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
            "last_error": {
                "type": ["object", "null"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": ["string", "null"]},
                    "zoho_error_code": {"type": ["string", "null"]},
                },
            },
            "zoho_message_id": {"type": ["string", "null"]},
            "mail_id": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "bounces": {
                "type": "array",
                "description": "What came back for it (MAILER_BOUNCES=on); empty in a list",
                "items": {
                    "type": "object",
                    "required": ["recipient", "type", "status", "diagnostic", "at"],
                    "properties": {
                        "recipient": {"type": "string"},
                        "type": {"type": "string", "enum": ["hard", "soft"]},
                        "status": {"type": "string"},
                        "diagnostic": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean"},
            "reason": {"type": "string"},
            "error": _ref("ErrorDetail"),
        },
    },
    "Status": {
        "type": "object",
        "required": ["ready", "reason"],
        "properties": {
            "ready": {"type": "boolean"},
            "reason": {"type": "string"},
            "error": _ref("ErrorDetail"),
            "transport": {"type": "string", "enum": ["zoho", "outbox"]},
            "dry_run": {"type": "boolean"},
            "mailbox": {"type": ["string", "null"]},
            "account_id": {"type": ["string", "null"]},
            "send_as": {"type": "array", "items": {"type": "string"}},
            "token_expires_at": {"type": ["string", "null"], "format": "date-time"},
            "next_renewal_at": {"type": ["string", "null"], "format": "date-time"},
            "queue_depth": {"type": "integer"},
            "oldest_queued_age_seconds": {"type": ["number", "null"]},
            "paused_until": {"type": ["string", "null"], "format": "date-time"},
            "code": {"enum": ["mailbox_held"], "description": "Why it is not ready, if held."},
            "hold": {"oneOf": [{"type": "null"}, _ref("Hold")]},
            "last_renewal": {
                "type": "object",
                "properties": {
                    "outcome": {"type": ["string", "null"]},
                    "at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "id": {"type": "string", "description": "The message, when one was accepted."},
            "error": _ref("ErrorDetail"),
        },
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "request_id": {"type": "string"},
            "zoho_error_code": {"type": ["string", "null"]},
            "zoho_status": {"type": "integer"},
            "caller_can_fix": {"type": "boolean"},
        },
    },
}


_MESSAGE_LINKS = {
    name: {"operationId": operation, "parameters": {"message_id": "$response.body#/id"}}
    for name, operation in (("GetMessage", "getMessage"), ("CancelMessage", "cancelMessage"))
}


def document(accounts_url: str) -> dict[str, Any]:
    """The whole OpenAPI document of a gateway whose ZOHO_ACCOUNTS_URL is ``accounts_url``."""
    servers = sorted({accounts_url, *DATA_CENTRES})
    create = openapi_mailboxes.mailbox_create(servers, openapi_send.SENDER)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Zoho Mail HTTP gateway",
            "version": "0.1.0",
            "description": "Send mail through a Zoho mailbox with one JSON POST; the gateway "
            'keeps the OAuth token valid. Every error is `{"error": {code, message, field?}}`.',
        },
        "components": {
            "schemas": {
                **SCHEMAS,
                **openapi_mailboxes.SCHEMAS,
                **openapi_queue.SCHEMAS,
                "MailboxCreate": create,
            },
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "MAILER_API_KEYS"},
                "admin": {"type": "http", "scheme": "basic", "description": "MAILER_ADMIN_KEY"},
            },
        },
        "paths": {
            "/api/email/send": {
                "post": {
                    "summary": "Send one message",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        _REQUEST_ID,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "The same key with the same body within 24 hours "
                            "returns the first answer and sends nothing more.",
                            "schema": {
                                "type": "string",
                                "pattern": f"^[\\x21-\\x7e]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}$",
                            },
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("SendRequest")}},
                    },
                    "responses": {
                        "200": {
                            "description": "Zoho took the message.",
                            "content": {"application/json": {"schema": _ref("SendResult")}},
                            "links": _MESSAGE_LINKS,
                        },
                        "202": {
                            "description": "Stored; it goes out later (pacing, a pause, or "
                            "Zoho failing right now). Follow it at /api/email/messages/{id}.",
                            "content": {"application/json": {"schema": _ref("Queued")}},
                            "links": _MESSAGE_LINKS,
                        },
                        "400": _error("Malformed or invalid input; `field` names the culprit."),
                        "401": _error("Missing or wrong API key."),
                        "403": _error("`from` is not a send-as address of the key's mailbox."),
                        "409": _error("Idempotency-Key reused with another body, or in flight."),
                        "413": _error("Body over MAILER_MAX_REQUEST_MB."),
                        "415": _error("Body not declared as application/json."),
                        "422": _error(
                            "A recipient is on the mailbox's suppression list "
                            "(`recipient_suppressed`); nothing stored."
                        ),
                        "429": {
                            **_error(
                                "Back-pressure, nothing stored: `rate_limited` "
                                "(MAILER_ACCEPT_LIMITS), `queue_full` (MAILER_MAX_QUEUED) or "
                                "`repeated_message` (MAILER_REPEAT_LIMIT); wait Retry-After."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds until a send may be accepted.",
                                    "schema": {"type": "integer", "minimum": 1},
                                }
                            },
                        },
                        "500": _error("Unexpected error; carries `request_id`."),
                        "502": _error("Zoho rejected the message for good (`zoho_error_code`)."),
                        "503": _error(
                            "Not ready: not connected, re-authorisation needed, no "
                            "token right now, or Zoho throttling; see Retry-After."
                        ),
                        "504": _error("Zoho did not answer in time."),
                    },
                }
            },
            "/api/email/messages/{message_id}": {
                "get": {
                    "operationId": "getMessage",
                    "summary": "Where an accepted message stands",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        _REQUEST_ID,
                        {
                            "name": "message_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The message (never its body).",
                            "content": {"application/json": {"schema": _ref("Message")}},
                        },
                        "401": _error("Missing or wrong API key."),
                        "404": _error("Unknown, or purged after the retention period."),
                    },
                },
                "delete": openapi_queue.CANCEL,
            },
            "/api/email/messages": openapi_queue.LIST,
            "/api/email/status": {
                "get": {
                    "summary": "Whether a send would be attempted now",
                    "description": "Details (mailbox, token expiry, renewals) only with an API key.",
                    "parameters": [_REQUEST_ID],
                    "responses": {
                        "200": {
                            "description": "Ready.",
                            "content": {"application/json": {"schema": _ref("Status")}},
                        },
                        "503": {
                            "description": "Not ready; `reason` says what to do.",
                            "content": {"application/json": {"schema": _ref("Status")}},
                        },
                    },
                }
            },
            "/api/email/health": {
                "get": {
                    "summary": "Liveness: the process serves and the state store answers",
                    "description": "Unlike status, a gateway with no mailbox connected is healthy.",
                    "parameters": [_REQUEST_ID],
                    "responses": {
                        "200": {
                            "description": "Alive.",
                            "content": {"application/json": {"schema": _ref("Health")}},
                        },
                        "503": {
                            "description": "The state store does not answer.",
                            "content": {"application/json": {"schema": _ref("Health")}},
                        },
                    },
                }
            },
            "/api/email/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                    },
                }
            },
            **openapi_setup.SETUP_PATHS,
            **openapi_mailboxes.PATHS,
        },
    }
