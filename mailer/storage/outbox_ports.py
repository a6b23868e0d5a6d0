"""What the outbox needs of the state store: the message queue, the ledger of calls to Zoho
Mail (pacing, pauses and holds), and the webhook events. ``ports.Storage`` gathers them with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mailer.runtime.pacing import RateLimit
from mailer.storage.admission_records import AcceptGate, Admission, NewMessage
from mailer.storage.records import Hold, MailPause, Outcome, StoredMessage, WebhookEvent, ZohoAnswer


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_created_at: float | None


class MessageQueue(Protocol):
    """Accepted messages and the leases of their delivery attempts."""

    def add(
        self,
        new: NewMessage,
        *,
        now: float,
        lease_owner: str | None = None,
        leased_until: float | None = None,
    ) -> StoredMessage:
        """Persist an accepted message: queued, scheduled for ``send_at``, or already leased
        to ``lease_owner``; with its tags."""

    def claim_due(
        self, mailbox: str, *, now: float, owner: str, leased_until: float
    ) -> StoredMessage | None:
        """Lease the next due message: a queued one, or one whose lease ran out."""

    def get(self, message_id: str) -> StoredMessage | None: ...

    def finish(
        self,
        message_id: str,
        owner: str,
        outcome: Outcome,
        *,
        now: float,
        event: WebhookEvent | None = None,
    ) -> bool:
        """Record a final outcome (and ``event``, in the same transaction); False when
        ``owner`` no longer holds the lease (then nothing is stored)."""

    def retry(
        self,
        message_id: str,
        owner: str,
        *,
        next_attempt_at: float,
        attempts: int,
        now: float,
        error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Put a leased message back in the queue until ``next_attempt_at``."""

    def stats(self, mailbox: str) -> QueueStats: ...

    def depths(self) -> dict[str, int]:
        """Messages queued or sending, per mailbox that has any."""

    def cancel(
        self, message_id: str, mailbox: str, *, now: float
    ) -> tuple[bool, StoredMessage | None]:
        """Cancel a waiting message in one statement (a claim and a cancel cannot both win);
        returns whether this call canceled it, and the message as it stands after (None when
        the mailbox has no such message)."""

    def requeue(self, message_id: str, mailbox: str, *, now: float) -> StoredMessage | None:
        """Make a failed or waiting message due now, its attempts and age counted anew."""

    def page(
        self,
        mailbox: str,
        *,
        statuses: tuple[str, ...],
        limit: int,
        before: tuple[float, str] | None = None,
        tag: str | None = None,
    ) -> list[StoredMessage]:
        """A mailbox's messages newest first, after the (created_at, id) ``before``."""

    def claim_probe(
        self, mailbox: str, *, held_since: float, now: float, owner: str, leased_until: float
    ) -> StoredMessage | None:
        """Lease one waiting message of a held mailbox, whatever its retry time: first one not
        tried since the hold began."""

    def release_held(self, mailbox: str, *, now: float) -> int:
        """A hold ended: the mailbox's waiting messages are due now."""

    def due_mailboxes(self, *, now: float) -> list[str]:
        """The mailboxes that have a message due now."""

    def fail_waiting(
        self,
        mailbox: str,
        *,
        code: str,
        error: str,
        now: float,
        event_for: Callable[[StoredMessage], WebhookEvent | None] | None = None,
    ) -> list[str]:
        """Fail every message of ``mailbox`` that is not in a live attempt; returns their ids."""


class Admissions(Protocol):
    """Accepting a message: the pace, the pause and the back-pressure read once, then stored."""

    def admit(
        self,
        new: NewMessage,
        *,
        now: float,
        windows: tuple[RateLimit, ...],
        gate: AcceptGate,
        lease_owner: str | None,
        leased_until: float,
    ) -> Admission:
        """Store the message unless ``gate`` refuses it (every worker and host sees one count);
        leased to ``lease_owner`` for an attempt now when the pace and the pause allow one."""

    def refusals(self, mailbox: str, *, since: float) -> dict[str, int]:
        """How many sends the mailbox refused since ``since``, by reason."""

    def note_refusal(self, mailbox: str, reason: str, *, now: float, count: int) -> None:
        """Keep ``count`` refusals for the mailbox's view (a day)."""


class CallLedger(Protocol):
    """The calls made to Zoho Mail per mailbox (for pacing) and the pauses after throttling."""

    def take(
        self, mailbox: str, calls: int, windows: tuple[RateLimit, ...], *, now: float
    ) -> float:
        """Record ``calls`` calls now if every window allows: 0.0; else the seconds to wait.

        Check and record are atomic across every worker and host.
        """

    def used(self, mailbox: str, windows: tuple[RateLimit, ...], *, now: float) -> list[int]:
        """How many calls each window holds now, in the order of ``windows``."""

    def pause(self, mailbox: str) -> MailPause | None:
        """The mailbox's throttle pause, hold and streak of answers without a rule."""

    def set_pause(self, mailbox: str, *, paused_until: float, throttles: int) -> None: ...

    def settle(
        self, mailbox: str, *, resumed: Callable[[Hold], WebhookEvent | None]
    ) -> Hold | None:
        """Zoho took a call: no pause, no streak, no hold any more; returns the hold it ended
        (its ``resumed`` event stored with the change)."""

    def end_hold(
        self, mailbox: str, *, resumed: Callable[[Hold], WebhookEvent | None]
    ) -> Hold | None:
        """An admin resumed the mailbox; returns the hold that ended."""

    def note_unknown(
        self,
        mailbox: str,
        message_id: str,
        answer: ZohoAnswer,
        *,
        hold_after: int,
        blocks: bool,
        next_probe_at: float,
        held: Callable[[Hold], WebhookEvent | None],
    ) -> Hold | None:
        """Record an answer without a rule; hold the mailbox when it ``blocks`` the account or
        ``hold_after`` messages in a row met one. Returns the hold this answer started."""

    def claim_probe(self, mailbox: str, *, now: float, next_probe_at: float) -> bool:
        """Whether this process may send the held mailbox's next probe now (one, everywhere)."""

    def probes_due(self, *, now: float) -> list[str]:
        """The held mailboxes whose next probe is due."""

    def holds(self) -> dict[str, Hold]:
        """Every held mailbox's hold."""

    def answers(self, mailbox: str) -> list[ZohoAnswer]:
        """The last answers without a rule, newest first."""


class EventMaker(Protocol):
    """Makes a webhook event to store with the change that causes it (None: webhooks off)."""

    def __call__(self, event_type: str, data: dict[str, Any]) -> WebhookEvent | None: ...


def no_events(event_type: str, data: dict[str, Any]) -> WebhookEvent | None:
    """Webhooks off: nothing to store."""
    return None


class WebhookQueue(Protocol):
    """Webhook events until the receiver takes them (or 24 hours pass)."""

    def claim_due(self, *, now: float, leased_until: float, limit: int) -> list[WebhookEvent]:
        """Lease due events so that no other worker or host sends them meanwhile."""

    def delivered(self, event_id: str, *, attempts: int, now: float) -> None: ...

    def retry(
        self, event_id: str, *, attempts: int, next_attempt_at: float, error: str, now: float
    ) -> None: ...

    def give_up(self, event_id: str, *, attempts: int, error: str, now: float) -> None: ...

    def pending(self) -> int: ...
