"""Errors the gateway answers with; each class carries its HTTP status and a stable code.

GatewayError
├── InvalidRequest (400)            malformed or invalid input; ``field`` names the culprit
│   └── UnsupportedMediaType (415)  the body is not declared as JSON
├── PayloadTooLarge (413)
├── Unauthorized (401)              missing or wrong API key
├── Forbidden (403)
├── NotFound (404)
├── Conflict (409)                  idempotency conflicts
├── NotReady (503)                  not connected, re-authorisation needed, token unavailable now
└── UpstreamError (502)             Zoho failed or answered something unusable
    ├── UpstreamTimeout (504)
    └── UpstreamRejected (502)      Zoho refused the message; carries Zoho's errorCode

Zoho's OAuth server has its own tree in ``zoho_accounts`` (TokenEndpointError), which
the token service turns into these.
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

    def body(self) -> dict[str, Any]:
        """The JSON error body of the contract."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.extra())
        return {"error": error}

    def extra(self) -> dict[str, Any]:
        """More keys for the error object; subclasses add upstream context."""
        return {}


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


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


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
