"""What the services need of the state store: one Protocol per aggregate, plus single flight.

Services depend on these only; ``storage.open_storage`` hands in an engine (SQLite or
PostgreSQL) that implements all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from mailer.storage.admission_records import IdempotencyRecord
from mailer.storage.console_ports import ConsoleSessions, History
from mailer.storage.outbox_ports import (
    Admissions,
    CallLedger,
    MessageQueue,
    QueueStats,
    WebhookQueue,
)
from mailer.storage.records import (
    BounceRecord,
    ConnectLink,
    Grant,
    KeyInfo,
    Mailbox,
    OAuthState,
    StoredMessage,
    Suppression,
    WebhookEvent,
)
from mailer.storage.retention import Cutoffs
from mailer.zoho.account import Account

__all__ = [
    "ApiKeyStore",
    "CallLedger",
    "ConnectLinkStore",
    "IdempotencyStore",
    "MailboxStore",
    "MessageQueue",
    "OAuthStateStore",
    "QueueStats",
    "SingleFlight",
    "Storage",
    "WebhookQueue",
]


class MailboxStore(Protocol):
    """Mailbox connections and their tokens."""

    def get(self, name: str) -> Mailbox | None: ...

    def all(self) -> list[Mailbox]: ...

    def page(self, *, after: str | None, limit: int) -> list[Mailbox]:
        """Up to ``limit`` mailboxes by name, after ``after``."""

    def census(self) -> dict[str, int]:
        """How many mailboxes there are (``all``), and how many need reconnecting."""

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
        event: WebhookEvent | None = None,
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
        event: WebhookEvent | None = None,
    ) -> None: ...

    def discard_access_token(self, name: str, access_token: str) -> None:
        """Forget an access token Zoho refused, unless it was replaced meanwhile."""

    def save_account(self, name: str, account: Account) -> None: ...


class IdempotencyStore(Protocol):
    """Idempotency records: a claim while a request is in flight, then its answer. (A send
    claims its key in the transaction that stores its message: ``NewMessage.claim``.)"""

    def claim(
        self, key: str, fingerprint: str, *, now: float, leased_until: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """Claim ``key``; returns the record that holds it instead, if any still does."""

    def complete(self, key: str, status: int, answer: dict[str, Any]) -> None:
        """The answer of the request that holds ``key``, once it has one."""


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

    def of(self, mailbox: str) -> list[KeyInfo]:
        """A mailbox's keys, oldest first (never the key)."""


class ConnectLinkStore(Protocol):
    """Single-use connect links, by the SHA-256 digest of the link's secret."""

    def add(self, token_hash: str, mailbox: str, *, expires_at: float) -> None: ...

    def take(self, token_hash: str, *, now: float) -> ConnectLink | None:
        """Look a link up and, when unused and unexpired, mark it used (once)."""


class SuppressionList(Protocol):
    """Each mailbox's addresses it sends nothing to."""

    def all(self, mailbox: str) -> list[Suppression]: ...

    def add(
        self,
        mailbox: str,
        address: str,
        *,
        reason: str,
        now: float,
        message_id: str | None = None,
    ) -> bool:
        """Suppress ``address`` (lower case); False when it was already."""

    def remove(self, mailbox: str, address: str) -> bool:
        """False when the address was not suppressed."""

    def suppressed(self, mailbox: str, addresses: Sequence[str]) -> list[str]:
        """Which of ``addresses`` the mailbox suppresses."""


class BounceStore(Protocol):
    """Each mailbox's reading of its Inbox and the bounces tied to its messages."""

    def claim_polls(
        self, *, now: float, claimed_until: float, first_mark_ms: int, limit: int
    ) -> list[str]:
        """Claim the readable mailboxes due to be read and held by no one else."""

    def mark(self, mailbox: str) -> tuple[str | None, int]:
        """The Inbox's id (None: unknown yet) and the newest receivedTime read."""

    def advance(self, mailbox: str, *, folder_id: str, mark_ms: int, next_poll_at: float) -> None:
        """Keep what a pass read up to and release its claim."""

    def release(self, mailbox: str, *, next_poll_at: float) -> None:
        """Release a pass's claim with the mark unchanged."""

    def tie(
        self, mailbox: str, *, mail_id: str | None, recipients: Sequence[str], since: float
    ) -> StoredMessage | None:
        """The sent message a bounce answers, by Message-ID, else by recipient since ``since``."""

    def record(
        self,
        message: StoredMessage,
        zoho_message_id: str,
        bounces: Sequence[BounceRecord],
        *,
        now: float,
        event: Callable[[StoredMessage], WebhookEvent | None],
    ) -> list[BounceRecord]:
        """Keep the bounces not kept before, with what they change; returns those kept."""


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
    def admissions(self) -> Admissions: ...

    @property
    def suppressions(self) -> SuppressionList: ...

    @property
    def bounces(self) -> BounceStore: ...

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
    def console_sessions(self) -> ConsoleSessions: ...

    @property
    def history(self) -> History: ...

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
