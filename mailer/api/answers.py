"""The HTTP answers that are more than a view: a status code chosen by outcome, a replay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailer.runtime.errors import NotReady
from mailer.sending.results import Accepted
from mailer.sending.view import accepted_view
from mailer.storage.records import StoredMessage


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # Kept with the message's Idempotency-Key when it was stored (nothing more to keep).
    kept: bool = False


def accepted(outcome: Accepted) -> Answer:
    """A new message: 200 sent, 202 queued or scheduled, or a failure for good's error (with
    the message's id)."""
    if outcome.failure is not None:
        status = outcome.failure.status
    else:
        status = 200 if outcome.receipt is not None else 202
    return Answer(status, accepted_view(outcome), kept=outcome.answered)


def replayed(stored: StoredMessage) -> Answer:
    """The answer for a message an earlier request with the same Idempotency-Key accepted."""
    if stored.status == "sent":
        sent_body = {
            "id": stored.id,
            "status": "sent",
            "zoho_message_id": stored.zoho_message_id,
            "mail_id": stored.mail_id,
        }
        return Answer(200, sent_body, replayed=True)
    if stored.status == "failed":
        body: dict[str, Any] = {
            "id": stored.id,
            "error": {
                "code": "delivery_failed",
                "message": f"the message could not be delivered: {stored.last_error}",
                "zoho_error_code": stored.zoho_error_code,
            },
        }
        return Answer(502, body, replayed=True)
    return Answer(202, {"id": stored.id, "status": stored.status}, replayed=True)


def state_trouble(error: NotReady, **flags: bool) -> dict[str, Any]:
    """Status or health while the state store does not answer: the flag, and why."""
    return {**flags, "reason": error.message, **error.body()}
