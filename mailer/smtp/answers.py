"""The SMTP door's answers: each gateway error as its reply code and enhanced status code
(RFC 3463), and aiosmtpd's own answers with the enhanced code they lack."""

from __future__ import annotations

from mailer.runtime.errors import (
    Forbidden,
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    QueueFull,
    RateLimited,
    RecipientSuppressed,
    RepeatedMessage,
    Unauthorized,
)

# aiosmtpd's own answers that lack an enhanced status code (RFC 3463), with it.
ENHANCED = {
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "552 Error: Too much mail data": "552 5.3.4 Message too big for system",
    "552 Error: message size exceeds fixed maximum message size": (
        "552 5.3.4 Message too big for system"
    ),
}


def reply(error: GatewayError) -> str:
    """The SMTP answer to a gateway error: 5xx for what retrying cannot fix, 4xx else."""
    text = error.message.replace("\r", " ").replace("\n", " ")[:200]
    if isinstance(error, RecipientSuppressed):
        return f"550 5.1.1 {text}"
    if isinstance(error, RateLimited):
        return f"451 4.7.1 {text}"
    if isinstance(error, QueueFull):
        return f"452 4.3.1 {text}"
    if isinstance(error, Forbidden | RepeatedMessage):
        return f"550 5.7.1 {text}"
    if isinstance(error, Unauthorized):
        return f"535 5.7.8 {text}"
    if isinstance(error, PayloadTooLarge):
        return f"552 5.3.4 {text}"
    if isinstance(error, InvalidRequest):
        return f"550 5.6.0 {text}"
    return f"451 4.3.0 {text}"  # not ready (state store, reconnection) or Zoho: try again
