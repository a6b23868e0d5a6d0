"""Errors the gateway answers with; each class carries its HTTP status and a stable code.

GatewayError
├── InvalidRequest (400)            malformed or invalid input; ``field`` names the culprit
│   └── UnsupportedMediaType (415)  the body is not declared as JSON
├── PayloadTooLarge (413)
├── Unauthorized (401)              missing or wrong API key
├── Forbidden (403)
│   └── SenderForbidden            ``from`` is not a send-as address of the key's mailbox
├── NotFound (404)
├── Conflict (409)                  idempotency conflicts, a taken mailbox name
├── Gone (410)                      a connect link used or expired
├── RecipientSuppressed (422)       a recipient is on the mailbox's suppression list
├── Refused (429)                   the mailbox accepts no more now; ``retry_after_seconds``
│   ├── RateLimited                 MAILER_ACCEPT_LIMITS reached
│   ├── QueueFull                   MAILER_MAX_QUEUED messages wait already
│   └── RepeatedMessage             the same message MAILER_REPEAT_LIMIT times already
├── NotReady (503)                  a send cannot be attempted now; one class per reason:
│   ├── MailboxOnHold               no message can go out until an admin acts
│   │   ├── NotConnected            no mailbox is connected yet
│   │   └── ReauthorizationRequired Zoho refuses the stored refresh token
│   ├── TokenUnavailable            the token endpoint is failing; retried with back-off
│   ├── ZohoThrottled               Zoho Mail throttles the mailbox
│   ├── StateBusy                   the SQLite file stayed locked too long
│   ├── StateUnavailable            the state store cannot be reached
│   └── NotConfigured, AccountNotFound, SenderNotAllowed, LockTimeout
└── UpstreamError (502)             Zoho failed or answered something unusable
    ├── UpstreamTimeout (504)
    ├── UpstreamRejected (502)      Zoho refused the message; carries Zoho's errorCode
    └── ZohoUnknownAnswer (502)     Zoho answered what no rule covers: retried, never final

Zoho's OAuth server has its own tree in ``zoho.accounts`` (TokenEndpointError), and Zoho
Mail in ``zoho.mail`` (MailError); the token service and the Zoho transport turn them into these.
Callers catch classes; nothing dispatches on a code string.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error the API answers as JSON."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def with_status(self, status: int) -> GatewayError:
        """This error with another HTTP status (for Werkzeug's errors and one-off cases)."""
        self.status = status
        return self

    def extra(self) -> dict[str, Any]:
        """More keys for the error object; subclasses add upstream context."""
        return {}

    def body(self) -> dict[str, Any]:
        """The contract's error object: code, message, the field at fault, upstream context."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.extra())
        return {"error": error}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"


class UnsupportedMediaType(InvalidRequest):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class SenderForbidden(Forbidden):
    """The request names a sender its key's mailbox may not send as (well formed, not allowed)."""

    code = "sender_not_allowed"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class Gone(GatewayError):
    status = 410
    code = "gone"


class RecipientSuppressed(GatewayError):
    """A recipient is on the mailbox's suppression list (a hard bounce, or an admin)."""

    status = 422
    code = "recipient_suppressed"


class Refused(GatewayError):
    """Back-pressure: the mailbox accepts nothing more now; nothing was stored."""

    status = 429
    code = "refused"

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RateLimited(Refused):
    code = "rate_limited"


class QueueFull(Refused):
    code = "queue_full"


class RepeatedMessage(Refused):
    code = "repeated_message"


class NotReady(GatewayError):
    status = 503
    code = "not_ready"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


class UpstreamError(GatewayError):
    status = 502
    code = "zoho_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "zoho_timeout"


class UpstreamRejected(UpstreamError):
    """Zoho refused the request itself; retrying the same request will not help."""

    code = "zoho_rejected"

    def __init__(
        self,
        message: str,
        *,
        zoho_error_code: str | None,
        zoho_status: int,
        caller_can_fix: bool,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.zoho_error_code = zoho_error_code
        self.zoho_status = zoho_status
        self.caller_can_fix = caller_can_fix

    def extra(self) -> dict[str, Any]:
        return {
            "zoho_error_code": self.zoho_error_code,
            "zoho_status": self.zoho_status,
            "caller_can_fix": self.caller_can_fix,
        }


class ZohoUnknownAnswer(UpstreamError):
    """Zoho answered what the gateway has no rule for: the message waits and is retried, and
    enough of them in a row (or one that ``blocks_account``) hold the mailbox."""

    code = "zoho_unknown_answer"

    def __init__(
        self,
        message: str,
        *,
        call: str,
        zoho_status: int | None,
        zoho_error_code: str | None,
        description: str | None,
        blocks_account: bool,
    ) -> None:
        super().__init__(message)
        self.call = call
        self.zoho_status = zoho_status
        self.zoho_error_code = zoho_error_code
        self.description = description
        self.blocks_account = blocks_account

    def extra(self) -> dict[str, Any]:
        return {"zoho_error_code": self.zoho_error_code, "zoho_status": self.zoho_status}


class MailboxOnHold(NotReady):
    """No message of this mailbox can go out until an admin acts; queued ones wait."""


class NotConnected(MailboxOnHold):
    code = "not_connected"


class ReauthorizationRequired(MailboxOnHold):
    code = "reauthorization_required"


class TokenUnavailable(NotReady):
    code = "token_unavailable"


class ZohoThrottled(NotReady):
    code = "zoho_throttled"


class StateBusy(NotReady):
    """The SQLite file stayed locked by someone else for the whole busy timeout."""

    code = "state_busy"


class StateUnavailable(NotReady):
    """The state store (PostgreSQL) cannot be reached or dropped the connection."""

    code = "state_unavailable"


class NotConfigured(NotReady):
    code = "not_configured"


class AccountNotFound(NotReady):
    code = "account_not_found"


class SenderNotAllowed(NotReady):
    """The configured default sender is not a send-as address of the mailbox."""

    code = "sender_not_allowed"


class LockTimeout(NotReady):
    """Someone else held a single-flight lock longer than its holder's work may take."""

    code = "busy"
