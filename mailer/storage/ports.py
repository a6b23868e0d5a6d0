"""What the services need of the state store: one Protocol per aggregate, plus single flight.

Services depend on these only; ``storage.open_storage`` hands in an engine (SQLite or
PostgreSQL) that implements all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from mailer.pacing import Window
from mailer.retention import Cutoffs
from mailer.storage.records import (
    Account,
    ConnectLink,
    Grant,
    IdempotencyRecord,
    Mailbox,
    MailPause,
    OAuthState,
    Outcome,
    PendingEvent,
    StoredAttachment,
    StoredMessage,
    WebhookEvent,
)


class MailboxStore(Protocol):
    """Mailbox connections and their tokens."""

    def get(self, name: str) -> Mailbox | None: ...

    def all(self) -> list[Mailbox]: ...

    def create(
        self,
        name: str,
        *,
        accounts_url: str,
        mail_api_url: str,
        from_address: str | None,
        refresh_token: str | None,
        now: float,
    ) -> bool:
        """A new mailbox, connected when a refresh token is given; False when the name is taken."""

    def delete(self, name: str) -> Mailbox | None:
        """Remove a mailbox with its keys and links; returns what it was, or None."""

    def claim_due(self, *, now: float, claimed_until: float, limit: int) -> list[str]:
        """Claim mailboxes whose renewal is due, so that no other worker or host renews them
        until ``claimed_until`` or until their outcome is recorded."""

    def release_claim(self, name: str) -> None: ...

    def reseal(self) -> int:
        """Seal every token stored plain or with an older key (SealError when one does not
        open); returns how many mailboxes changed."""

    def seed(
        self,
        name: str,
        *,
        refresh_token: str,
        fingerprint: str,
        accounts_url: str,
        mail_api_url: str,
        account_id: str | None,
        now: float,
    ) -> bool:
        """Apply an environment's refresh token unless this same one was applied before."""

    def connect(
        self,
        name: str,
        *,
        refresh_token: str,
        accounts_url: str,
        mail_api_url: str,
        account: Account,
        grant: Grant,
        now: float,
        event: PendingEvent | None = None,
    ) -> str | None:
        """Store a connection made through the consent flow, replacing any earlier one; returns
        the refresh token it replaced (to revoke), if another."""

    def record_renewal(self, name: str, grant: Grant, *, now: float) -> None: ...

    def record_renewal_failure(
        self,
        name: str,
        *,
        outcome: str,
        failures: int,
        next_renewal_at: float,
        needs_reauth: bool,
        now: float,
        event: PendingEvent | None = None,
    ) -> None: ...

    def discard_access_token(self, name: str, access_token: str) -> None:
        """Forget an access token Zoho refused, unless it was replaced meanwhile."""

    def save_account(self, name: str, account: Account) -> None: ...


class IdempotencyStore(Protocol):
    """Idempotency records: a claim while a request is in flight, then its answer."""

    def claim(
        self, key: str, fingerprint: str, *, now: float, leased_until: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """Claim ``key``; returns the record that holds it instead, if any still does."""

    def complete(self, key: str, status: int, answer: dict[str, Any]) -> None: ...

    def release(self, key: str) -> None:
        """Forget a claim whose request failed in a way worth retrying with the same key."""


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_created_at: float | None


class MessageQueue(Protocol):
    """Accepted messages and the leases of their delivery attempts."""

    def add(
        self,
        message_id: str,
        mailbox: str,
        *,
        payload: dict[str, Any],
        attachments: tuple[StoredAttachment, ...],
        calls: int,
        now: float,
        lease_owner: str | None = None,
        leased_until: float | None = None,
        send_at: float | None = None,
        tags: tuple[str, ...] = (),
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
        event: PendingEvent | None = None,
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

    def due_mailboxes(self, *, now: float) -> list[str]:
        """The mailboxes that have a message due now."""

    def fail_waiting(
        self,
        mailbox: str,
        *,
        code: str,
        error: str,
        now: float,
        event_for: Callable[[StoredMessage], PendingEvent | None] | None = None,
    ) -> list[str]:
        """Fail every message of ``mailbox`` that is not in a live attempt; returns their ids."""


class CallLedger(Protocol):
    """The calls made to Zoho Mail per mailbox (for pacing) and the pauses after throttling."""

    def take(self, mailbox: str, calls: int, windows: tuple[Window, ...], *, now: float) -> float:
        """Record ``calls`` calls now if every window allows: 0.0; else the seconds to wait.

        Check and record are atomic across every worker and host.
        """

    def wait(self, mailbox: str, calls: int, windows: tuple[Window, ...], *, now: float) -> float:
        """How long ``calls`` calls would wait now, a throttle pause included; records nothing."""

    def pause(self, mailbox: str) -> MailPause | None: ...

    def set_pause(self, mailbox: str, *, paused_until: float, throttles: int) -> None: ...

    def clear_pause(self, mailbox: str) -> None: ...


class OAuthStateStore(Protocol):
    """Consent flows in progress."""

    def add(
        self,
        state_hash: str,
        browser_hash: str,
        expires_at: float,
        now: float,
        *,
        mailbox: str = "default",
        via_link: bool = False,
    ) -> None: ...

    def take(self, state_hash: str, browser_hash: str, now: float) -> OAuthState | None:
        """Look a state up and, when it belongs to this browser, mark it used (once)."""

    def mark_connected(self, state_hash: str, address: str) -> None:
        """The flow of this state connected ``address``."""


class ApiKeyStore(Protocol):
    """Mailboxes' API keys, by the SHA-256 digest of the key."""

    def add(self, key_id: str, mailbox: str, key_hash: str, *, now: float) -> None: ...

    def mailbox_for(self, key_hash: str) -> str | None: ...

    def delete(self, key_id: str, mailbox: str | None = None) -> bool: ...


class ConnectLinkStore(Protocol):
    """Single-use connect links, by the SHA-256 digest of the link's secret."""

    def add(self, token_hash: str, mailbox: str, *, expires_at: float) -> None: ...

    def take(self, token_hash: str, *, now: float) -> ConnectLink | None:
        """Look a link up and, when unused and unexpired, mark it used (once)."""


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


class SingleFlight(Protocol):
    """A lock by name held by one thread of one process of one host at a time."""

    def hold(self, name: str) -> AbstractContextManager[None]: ...


class Storage(Protocol):
    """The whole state store, as an engine provides it."""

    @property
    def mailboxes(self) -> MailboxStore: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    @property
    def messages(self) -> MessageQueue: ...

    @property
    def ledger(self) -> CallLedger: ...

    @property
    def oauth_states(self) -> OAuthStateStore: ...

    @property
    def api_keys(self) -> ApiKeyStore: ...

    @property
    def connect_links(self) -> ConnectLinkStore: ...

    @property
    def webhooks(self) -> WebhookQueue: ...

    @property
    def locks(self) -> SingleFlight: ...

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``."""

    def describe(self) -> str:
        """Where the state lives, for a log line (never a password)."""

    def ping(self) -> None:
        """Raise StateUnavailable (or StateBusy) unless the store answers now."""

    def migrate(self) -> list[str]:
        """Apply pending schema migrations, one process at a time; returns those applied."""

    def size_pool(self, threads: int) -> None:
        """Fit this process's connections to its request threads (before first use)."""

    def purge(self, cutoffs: Cutoffs) -> int:
        """Delete what the retention rules no longer keep; returns messages deleted."""

    def close(self) -> None: ...
