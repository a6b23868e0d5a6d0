"""The records the state store keeps; plain values, the same for every engine."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from mailer.zoho.account import Account

# What a mailbox may be named.
MAILBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Mailbox:
    """One connected Zoho mailbox: its refresh token, where it lives, its current access token."""

    name: str
    refresh_token: str | None = field(repr=False)
    accounts_url: str
    mail_api_url: str
    seed_fingerprint: str | None = None
    account_id: str | None = None
    primary_address: str | None = None
    send_as: tuple[str, ...] = ()
    access_token: str | None = field(default=None, repr=False)
    access_expires_at: float | None = None
    next_renewal_at: float | None = None
    renewal_failures: int = 0
    last_renewal_at: float | None = None
    last_renewal_outcome: str | None = None
    needs_reauth: bool = False
    from_address: str | None = None
    outgoing_blocked: bool = False
    created_at: float | None = None
    # The scopes its consent granted, space-separated; None until a token reply said them.
    scopes: str | None = None
    # A new number on every change of the row (migration 0013).
    generation: int = 0

    @property
    def status(self) -> str:
        """``connected``, ``needs_reconnect`` (Zoho refused its refresh token) or
        ``not_connected`` (waiting for its connect link)."""
        if self.refresh_token is None:
            return "not_connected"
        return "needs_reconnect" if self.needs_reauth else "connected"

    def can_read(self) -> bool:
        """Whether its consent lets the gateway read its messages and folders back."""
        granted = set((self.scopes or "").split())
        return bool(
            granted & {"ZohoMail.messages.READ", "ZohoMail.messages.ALL"}
            and granted & {"ZohoMail.folders.READ", "ZohoMail.folders.ALL"}
        )

    def seconds_left(self, now: float) -> float:
        """Lifetime left of the access token; 0 when there is none."""
        if self.access_token is None or self.access_expires_at is None:
            return 0.0
        return max(0.0, self.access_expires_at - now)

    def renewal_due(self, now: float) -> bool:
        """Whether the schedule (or the back-off after a failure) allows a renewal now."""
        return self.refresh_token is not None and (
            self.next_renewal_at is None or now >= self.next_renewal_at
        )

    @property
    def account(self) -> Account | None:
        if self.account_id is None or self.primary_address is None:
            return None
        return Account(self.account_id, self.primary_address, self.send_as, self.outgoing_blocked)


@dataclass(frozen=True)
class Grant:
    """A fresh access token as a renewal or a consent stores it."""

    access_token: str = field(repr=False)
    expires_at: float
    next_renewal_at: float
    scopes: str | None = None  # what the consent granted, when Zoho's reply says


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, as a request gives it and the outbox stores it."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)
    # Inline: the HTML refers to it as cid:<content_id>.
    content_id: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    """An accepted message and where its delivery stands; ``payload`` is its JSON form."""

    id: str
    mailbox: str
    status: str
    payload: dict[str, Any] = field(repr=False)
    attachments: tuple[Attachment, ...] = field(repr=False)
    calls: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    attempts: int = 0
    leased_until: float | None = None
    last_error_code: str | None = None
    last_error: str | None = None
    zoho_error_code: str | None = None
    zoho_message_id: str | None = None
    mail_id: str | None = None
    finished_at: float | None = None
    # When an operator put it back in the queue: its age counts from then.
    requeued_at: float | None = None
    # What bounces came back for it (read only by ``MessageQueue.get``).
    bounces: tuple[BounceRecord, ...] = ()

    @property
    def recipient_addresses(self) -> frozenset[str]:
        """Every recipient's bare address (lower case): to, cc and bcc."""
        payload = self.payload
        return frozenset(
            bare_addresses(
                [*payload.get("to", []), *payload.get("cc", []), *payload.get("bcc", [])]
            )
        )


def bare_addresses(recipients: Iterable[object]) -> tuple[str, ...]:
    """Each recipient (``Name <a@b>`` or ``a@b``) as its bare address in lower case, once each."""
    return tuple(dict.fromkeys(_bare(str(r)) for r in recipients))


# An address with nothing around it to parse (most recipients): itself.
_PLAIN_ADDRESS = re.compile(r"[^\s<>\"(),:;\\\[\]@]+@[^\s<>\"(),:;\\\[\]@]+")


def _bare(recipient: str) -> str:
    if _PLAIN_ADDRESS.fullmatch(recipient):
        return recipient.lower()
    return parseaddr(recipient)[1].lower()


@dataclass(frozen=True)
class BounceRecord:
    """One recipient a bounce reported for a message: ``kind`` hard (5.x.x) or soft."""

    recipient: str
    kind: str
    status: str
    diagnostic: str
    at: float


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as the queue records it on a message."""

    status: str  # "sent" or "failed"
    attempts: int
    zoho_message_id: str | None = None
    mail_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    zoho_error_code: str | None = None


@dataclass(frozen=True)
class Suppression:
    """An address a mailbox sends nothing to: a hard bounce's, or one an admin added."""

    address: str
    reason: str  # "hard_bounce" or "manual"
    created_at: float
    message_id: str | None = None


@dataclass(frozen=True)
class ZohoAnswer:
    """An answer of Zoho Mail that the gateway has no rule for: what it said, never a token or
    an address."""

    at: float
    call: str  # "send", "upload", "accounts"
    http_status: int | None
    code: str | None
    description: str | None


@dataclass(frozen=True)
class Hold:
    """A mailbox Zoho may not be sending for: nothing goes out but one probe at a time."""

    since: float
    reason: str  # "unknown_answers" or "account_blocked"
    answer: ZohoAnswer | None
    next_probe_at: float


@dataclass(frozen=True)
class MailPause:
    """Zoho throttled this mailbox (no calls before ``paused_until``), or holds it."""

    paused_until: float
    throttles: int
    hold: Hold | None = None
    # The messages that met an answer without a rule since the last accepted send.
    unknown_streak: tuple[str, ...] = ()

    def paused(self, now: float) -> bool:
        return self.paused_until > now


@dataclass(frozen=True)
class OAuthState:
    """A consent flow in progress, as the callback finds it."""

    browser_hash: str
    expires_at: float
    used_at: float | None
    connected_address: str | None = None
    mailbox: str = "default"
    via_link: bool = False


@dataclass(frozen=True)
class ConnectLink:
    """A single-use link that starts Zoho's consent for one mailbox, as its holder opens it."""

    mailbox: str
    expires_at: float
    used_at: float | None


@dataclass(frozen=True)
class KeyInfo:
    """An issued API key as the admin sees it: never the key."""

    id: str
    mailbox: str
    created_at: float


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook event: stored with the change that causes it (no attempt yet), and claimed
    when due for an attempt. ``body`` is its JSON."""

    id: str
    type: str
    body: str
    created_at: float
    attempts: int = 0
    # The message the event is about (message.* events), for the message's page.
    message_id: str | None = None
