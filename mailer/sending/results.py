"""What the outbox stores and answers: a message's payload both ways, the outcome of an
accept, the queue's figures, and a message as it stands once finished."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mailer.runtime.errors import GatewayError
from mailer.sending.back_pressure import message_digest
from mailer.sending.options import SendOptions
from mailer.sending.request import OutgoingMessage
from mailer.storage.admission_records import IdempotencyRecord, NewMessage
from mailer.storage.ports import CallLedger, MessageQueue
from mailer.storage.records import Hold, Outcome, StoredMessage
from mailer.transports import Receipt


def to_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "sender": message.sender,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
    }


def to_new_message(
    message_id: str,
    mailbox: str,
    message: OutgoingMessage,
    options: SendOptions,
    source: str,
    calls: int,
) -> NewMessage:
    """An accepted message as the outbox hands it to the state store."""
    return NewMessage(
        message_id,
        mailbox,
        payload={
            **to_payload(message),
            "tags": list(options.tags),
            "metadata": options.metadata,
            "source": source,
        },
        attachments=message.attachments,
        calls=calls,
        tags=options.tags,
        send_at=options.send_at,
        digest=message_digest(message),
        recipients=message.recipient_addresses,
    )


def from_stored(stored: StoredMessage) -> OutgoingMessage:
    p = stored.payload
    return OutgoingMessage(
        to=tuple(p["to"]),
        cc=tuple(p["cc"]),
        bcc=tuple(p["bcc"]),
        sender=p["sender"],
        subject=p["subject"],
        html=p["html"],
        text=p["text"],
        attachments=stored.attachments,
    )


class StaleMailboxRow(Exception):
    """Nothing was stored: the mailbox's row changed since the message was checked against it
    (``SendService.accept`` checks it again)."""


class IdempotencyKeyTaken(Exception):
    """Nothing was stored: an earlier request holds the Idempotency-Key (``record``)."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("an earlier request holds this Idempotency-Key")
        self.record = record


@dataclass(frozen=True)
class Accepted:
    """A stored message and how its inline attempt went: sent, queued, or failed for good."""

    message_id: str
    receipt: Receipt | None = None
    failure: GatewayError | None = None
    scheduled: bool = False
    # Its Idempotency-Key's answer was stored with it (it was only queued or scheduled).
    answered: bool = False

    @property
    def outcome(self) -> str:
        if self.receipt:
            return "sent"
        if self.failure:
            return "failed"
        return "scheduled" if self.scheduled else "queued"


@dataclass(frozen=True)
class OutboxStats:
    queue_depth: int
    oldest_queued_age_seconds: float | None
    paused_until: float | None
    hold: Hold | None = None


def outbox_stats(
    messages: MessageQueue, ledger: CallLedger, mailbox: str, now: float
) -> OutboxStats:
    """A mailbox's queue and pause as they stand at ``now`` (a pause in the past is none)."""
    queue = messages.stats(mailbox)
    pause = ledger.pause(mailbox)
    return OutboxStats(
        queue_depth=queue.depth,
        oldest_queued_age_seconds=None
        if queue.oldest_created_at is None
        else round(now - queue.oldest_created_at, 1),
        paused_until=pause.paused_until if pause is not None and pause.paused(now) else None,
        hold=pause.hold if pause is not None else None,
    )


def finished(stored: StoredMessage, outcome: Outcome, now: float) -> StoredMessage:
    """``stored`` as it stands once ``outcome`` is recorded (for its webhook event)."""
    return replace(
        stored,
        status=outcome.status,
        attempts=outcome.attempts,
        zoho_message_id=outcome.zoho_message_id,
        mail_id=outcome.mail_id,
        last_error_code=outcome.error_code or stored.last_error_code,
        last_error=outcome.error or stored.last_error,
        zoho_error_code=outcome.zoho_error_code,
        leased_until=None,
        updated_at=now,
        finished_at=now,
    )
