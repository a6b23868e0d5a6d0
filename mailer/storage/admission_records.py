"""What an accept hands the state store and what it answers: the new message (with its
Idempotency-Key's claim), the gate it must pass, and the admission."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailer.runtime.pacing import RateLimit
from mailer.storage.records import Attachment, StoredMessage


@dataclass(frozen=True)
class IdempotencyClaim:
    """A request's claim on its Idempotency-Key, made in the transaction that stores its
    message: held until ``leased_until`` while the request is in flight, answered by
    ``answer`` (the message's id, and whether it is scheduled: the HTTP status and body) when
    the message is only queued, so the answer is stored with it."""

    key: str
    fingerprint: str
    leased_until: float
    expires_at: float
    answer: Callable[[str, bool], tuple[int, dict[str, Any]]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an earlier request with the same Idempotency-Key left: in flight, or its answer."""

    fingerprint: str
    status: int | None
    answer: dict[str, Any] | None
    leased_until: float


@dataclass(frozen=True)
class NewMessage:
    """A message to store, as the outbox hands it over: what it says and how it goes."""

    id: str
    mailbox: str
    payload: dict[str, Any] = field(repr=False)
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)
    # Zoho Mail calls its delivery takes (the send, and an upload for files).
    calls: int = 1
    tags: tuple[str, ...] = ()
    send_at: float | None = None
    # What it says, for the repeat guard (sender, recipients, subject, body).
    digest: str | None = None
    # Every recipient's bare address, for the suppression list.
    recipients: tuple[str, ...] = ()
    # The generation of the mailbox's row the message was checked against (None: not checked
    # against a kept row); stored only while the row is still that generation.
    mailbox_generation: int | None = None
    # Its request's Idempotency-Key, claimed in the same transaction (None: no key).
    claim: IdempotencyClaim | None = None


@dataclass(frozen=True)
class AcceptGate:
    """What one mailbox may accept now: at most ``limits`` messages per window, at most
    ``max_queued`` waiting, the same message at most ``repeats`` times per window."""

    limits: tuple[RateLimit, ...] = ()
    max_queued: int | None = None
    repeats: tuple[RateLimit, ...] = ()


@dataclass(frozen=True)
class Admission:
    """What the state store said to an accept: the message stored (leased for an inline
    attempt when ``inline``, its permits taken at the accept's time), or the back-pressure
    that refused it."""

    stored: StoredMessage | None
    inline: bool = False
    # Refused: why ("rate_limited", "queue_full", "repeated_message") and for how long.
    refusal: str | None = None
    retry_after_seconds: float = 0.0
    # Not stored: the mailbox's row changed since the message was checked against it.
    stale: bool = False
    # Not stored: an earlier request holds the Idempotency-Key (in flight, or answered).
    replay: IdempotencyRecord | None = None
    # Stored with its Idempotency-Key's answer (queued: nothing more will be said).
    answered: bool = False
