"""Every JSON answer shape of the API, in one place next to the views."""

from __future__ import annotations

from typing import Any

from mailer.mailboxes.admin import ConnectLinkIssued, MailboxView
from mailer.runtime.clock import utc_iso
from mailer.runtime.errors import GatewayError, NotReady
from mailer.sending.queue import Page
from mailer.sending.results import Accepted, OutboxStats
from mailer.sending.service import Answer
from mailer.sending.view import message_view
from mailer.storage.records import StoredMessage
from mailer.transports import Readiness, Receipt

# A message as the API shows it (webhooks show the same).
message = message_view


def error_body(error: GatewayError) -> dict[str, Any]:
    """The contract's error object: code, message, the field at fault, upstream context."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    body.update(error.extra())
    return {"error": body}


def sent(receipt: Receipt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": receipt.id,
        "status": "sent",
        "zoho_message_id": receipt.zoho_message_id,
        "mail_id": receipt.mail_id,
    }
    if receipt.dry_run:
        body["dry_run"] = True
    return body


def accepted(outcome: Accepted) -> Answer:
    """A new message: 200 sent, 202 queued, or the error of a failure for good (with its id)."""
    if outcome.failure is not None:
        return Answer(
            outcome.failure.status, {"id": outcome.message_id, **error_body(outcome.failure)}
        )
    if outcome.receipt is not None:
        return Answer(200, sent(outcome.receipt))
    return Answer(202, {"id": outcome.message_id, "status": outcome.outcome})


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


def status(
    readiness: Readiness, stats: OutboxStats | None, mailbox: str | None = None
) -> dict[str, Any]:
    """``GET /api/email/status``: ready and why; the key's mailbox, its details and its queue
    for a key holder."""
    body: dict[str, Any] = {"ready": readiness.ready, "reason": readiness.reason}
    if stats is not None:
        body["mailbox_name"] = mailbox
        body.update(readiness.details)
        body.update(
            queue_depth=stats.queue_depth,
            oldest_queued_age_seconds=stats.oldest_queued_age_seconds,
            paused_until=utc_iso(stats.paused_until),
        )
    return body


def state_trouble(error: NotReady, **flags: bool) -> dict[str, Any]:
    """Status or health while the state store does not answer: the flag, and why."""
    return {**flags, "reason": error.message, **error_body(error)}


def mailbox(view: MailboxView) -> dict[str, Any]:
    """A mailbox as the admin API shows it; never a token."""
    m = view.mailbox
    return {
        "name": m.name,
        "status": m.status,
        "address": m.primary_address,
        "from_address": m.from_address,
        "send_as": list(m.send_as),
        "outgoing_blocked": m.outgoing_blocked,
        "accounts_server": m.accounts_url,
        "token_expires_at": utc_iso(m.access_expires_at),
        "next_renewal_at": utc_iso(m.next_renewal_at) if m.refresh_token else None,
        "last_renewal": {"outcome": m.last_renewal_outcome, "at": utc_iso(m.last_renewal_at)},
        "queue_depth": view.queue_depth,
        "paused_until": utc_iso(view.paused_until),
    }


def connect_link(link: ConnectLinkIssued) -> dict[str, Any]:
    return {"connect_url": link.url, "expires_at": utc_iso(link.expires_at)}


def message_page(page: Page) -> dict[str, Any]:
    """``GET /api/email/messages``: newest first, and where the next page starts."""
    return {"messages": [message(m) for m in page.messages], "next_cursor": page.next_cursor}
