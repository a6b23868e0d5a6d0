"""How messages leave the gateway: ``zoho`` (through Zoho Mail) or ``dry_run`` (.eml files).

A transport hands one message on and says whether a send would be attempted now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mailer.runtime.errors import NotReady
from mailer.sending.request import OutgoingMessage


@dataclass(frozen=True)
class Receipt:
    """A message the transport handed on."""

    id: str
    zoho_message_id: str | None
    mail_id: str | None
    dry_run: bool = False


@dataclass(frozen=True)
class Readiness:
    """``ready`` when a send would be attempted now; ``reason`` says what to do otherwise."""

    ready: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


class Transport(Protocol):
    def send(self, message: OutgoingMessage, message_id: str) -> Receipt:
        """Deliver one message now, or raise the GatewayError that says why not."""

    def readiness(self) -> Readiness:
        """Whether a send would be attempted now, for /status."""

    def hold_reason(self) -> NotReady | None:
        """Why no message can go out until an admin acts (not connected, re-authorise)."""

    def admit(self, message: OutgoingMessage) -> int | None:
        """Refuse a message before it is accepted: the hold reason (503), or a sender the
        mailbox is known not to allow (403). Returns the generation of the mailbox's row it
        was checked against (None: no row), which the store compares when it stores it."""

    def forget_kept(self) -> None:
        """Check the next message against the mailbox's row as stored now (it changed)."""

    def check_sender(self, sender: str | None, *, look_up: bool = False) -> None:
        """``admit`` for the sender alone (an SMTP MAIL FROM), before the message is known;
        ``look_up``: read the account from upstream first when it is not known yet."""

    def look_up_account(self) -> None:
        """Read the mailbox's account (address, send-as list) from upstream now, if it has one."""

    def calls_for(self, message: OutgoingMessage) -> int:
        """How many paced upstream calls one attempt at ``message`` makes."""
