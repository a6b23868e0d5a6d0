"""What the doors and webhooks show of sending, as JSON: a message (where it stands, never its
body), a new message's outcome, a mailbox's readiness and queue, a page of messages."""

from __future__ import annotations

from typing import Any

from mailer.runtime.clock import utc_iso
from mailer.sending.queue import Page
from mailer.sending.results import Accepted, OutboxStats
from mailer.storage.records import Hold, StoredMessage, ZohoAnswer
from mailer.transports import Readiness, Receipt


def message_view(stored: StoredMessage) -> dict[str, Any]:
    """A message as ``GET /api/email/messages/<id>`` shows it (never its body)."""
    return {
        "id": stored.id,
        "mailbox": stored.mailbox,
        "status": stored.status,
        "subject": stored.payload.get("subject"),
        "to": stored.payload.get("to", []),
        "cc": stored.payload.get("cc", []),
        "bcc_count": len(stored.payload.get("bcc", [])),
        "tags": stored.payload.get("tags", []),
        "metadata": stored.payload.get("metadata", {}),
        "source": stored.payload.get("source", "http"),
        "send_at": utc_iso(stored.next_attempt_at) if stored.status == "scheduled" else None,
        "attempts": stored.attempts,
        "next_attempt_at": utc_iso(stored.next_attempt_at) if stored.status == "queued" else None,
        "last_error": None
        if stored.last_error_code is None
        else {
            "code": stored.last_error_code,
            "message": stored.last_error,
            "zoho_error_code": stored.zoho_error_code,
        },
        "zoho_message_id": stored.zoho_message_id,
        "mail_id": stored.mail_id,
        "created_at": utc_iso(stored.created_at),
        "updated_at": utc_iso(stored.updated_at),
        "finished_at": utc_iso(stored.finished_at),
        "bounces": [
            {
                "recipient": bounce.recipient,
                "type": bounce.kind,
                "status": bounce.status,
                "diagnostic": bounce.diagnostic,
                "at": utc_iso(bounce.at),
            }
            for bounce in stored.bounces
        ],
    }


def accepted_view(accepted: Accepted) -> dict[str, Any]:
    """A new message as its sender is told: sent (Zoho's ids), queued or scheduled, or the
    error of a failure for good (with the message's id)."""
    if accepted.failure is not None:
        return {"id": accepted.message_id, **accepted.failure.body()}
    if accepted.receipt is not None:
        return sent_view(accepted.receipt)
    return {"id": accepted.message_id, "status": accepted.outcome}


def sent_view(receipt: Receipt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": receipt.id,
        "status": "sent",
        "zoho_message_id": receipt.zoho_message_id,
        "mail_id": receipt.mail_id,
    }
    if receipt.dry_run:
        body["dry_run"] = True
    return body


def status_view(
    readiness: Readiness,
    stats: OutboxStats | None,
    mailbox: str | None = None,
    hold: Hold | None = None,
) -> dict[str, Any]:
    """Ready and why; the key's mailbox, its details, its queue and its hold (with Zoho's
    words) for a key holder."""
    body: dict[str, Any] = {"ready": readiness.ready and hold is None, "reason": readiness.reason}
    if hold is not None:
        body.update(
            reason="the mailbox is on hold: Zoho answered what the gateway has no rule for; "
            "sends are accepted and wait, one is tried now and then, and an admin can resume it "
            "(POST /api/email/mailboxes/<name>/resume)",
            code="mailbox_held",
        )
    if stats is not None:
        body["mailbox_name"] = mailbox
        body.update(readiness.details)
        body.update(
            queue_depth=stats.queue_depth,
            oldest_queued_age_seconds=stats.oldest_queued_age_seconds,
            paused_until=utc_iso(stats.paused_until),
            hold=hold_view(stats.hold),
        )
    return body


def page_view(page: Page) -> dict[str, Any]:
    """A page of a mailbox's messages, newest first, and where the next page starts."""
    return {"messages": [message_view(m) for m in page.messages], "next_cursor": page.next_cursor}


def hold_view(hold: Hold | None) -> dict[str, Any] | None:
    """A mailbox's hold as its view, status and webhooks show it, with Zoho's own words."""
    if hold is None:
        return None
    answer = hold.answer
    return {
        "since": utc_iso(hold.since),
        "reason": hold.reason,
        "zoho": None
        if answer is None
        else {
            "http_status": answer.http_status,
            "code": answer.code,
            "description": answer.description,
        },
        "next_probe_at": utc_iso(hold.next_probe_at),
    }


def answer_view(answer: ZohoAnswer) -> dict[str, Any]:
    """An answer of Zoho's that no rule covers (never a token or an address)."""
    return {
        "at": utc_iso(answer.at),
        "call": answer.call,
        "http_status": answer.http_status,
        "code": answer.code,
        "description": answer.description,
    }
