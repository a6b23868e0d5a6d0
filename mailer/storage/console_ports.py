"""What the admin console reads and keeps beyond the other ports: its signed-in sessions, each
message's history, a search across mailboxes, and the hourly counts its charts draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mailer.storage.records import StoredMessage


@dataclass(frozen=True)
class HourCount:
    """How many of ``outcome`` (sent, failed, bounced, renewed, renewal_failed) in the hour
    that starts at ``hour`` (Unix seconds)."""

    hour: int
    outcome: str
    count: int


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a message as it ended: its status after, and Zoho's answer."""

    at: float
    attempt: int
    status: str
    error_code: str | None
    error: str | None
    zoho_error_code: str | None
    zoho_message_id: str | None


@dataclass(frozen=True)
class DeliveryRecord:
    """A webhook event about a message, and how its delivery stands."""

    id: str
    type: str
    created_at: float
    attempts: int
    delivered_at: float | None
    given_up_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class MessageQuery:
    """A search: every given filter must hold. ``recipient`` and ``subject`` match a part,
    without regard to case; ``since``/``until`` bound the time a message was accepted;
    ``before`` continues a search after the (created_at, id) it reached."""

    mailbox: str | None = None
    status: str | None = None
    tag: str | None = None
    recipient: str | None = None
    subject: str | None = None
    since: float | None = None
    until: float | None = None
    before: tuple[float, str] | None = None
    limit: int = 50


@dataclass(frozen=True)
class Found:
    """A page of matches, newest first; ``more_before`` is where the search goes on (None:
    nothing older matches)."""

    messages: list[StoredMessage]
    more_before: tuple[float, str] | None


class ConsoleSessions(Protocol):
    """Signed-in browsers, by the SHA-256 digest of the id their cookie carries."""

    def open(self, id_hash: str, *, now: float, expires_at: float) -> None: ...

    def valid(self, id_hash: str, *, now: float) -> bool: ...

    def close(self, id_hash: str) -> None: ...


class History(Protocol):
    """What happened, for people: hourly counts, a message's attempts and webhook deliveries,
    and a search across mailboxes."""

    def hours(self, mailbox: str | None, *, since: float) -> list[HourCount]:
        """The counts from ``since`` on, for one mailbox or (None) for all."""

    def attempts(self, message_id: str) -> list[AttemptRecord]: ...

    def deliveries(self, message_id: str) -> list[DeliveryRecord]: ...

    def search(self, query: MessageQuery) -> Found: ...
