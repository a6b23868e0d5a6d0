"""A send request to an accepted message: parse, validate, admit, store (and maybe send), log.

It answers with a domain result (``Accepted``); each door (HTTP, SMTP, the command line) turns
that into its own answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailer.runtime.clock import Clock
from mailer.sending.options import SendOptions, parse_send_options
from mailer.sending.outbox import Outbox
from mailer.sending.request import OutgoingMessage, parse_send_request
from mailer.sending.results import Accepted, StaleMailboxRow
from mailer.storage.admission_records import IdempotencyClaim
from mailer.transports import Transport

log = logging.getLogger(__name__)

# How often an accept checks a message again when the mailbox changes under it, before it
# stores it checked against the row it read last.
STALE_CHECKS = 3


class MailboxSending(Protocol):
    """A mailbox's transport and outbox, as the composition builds them."""

    @property
    def transport(self) -> Transport: ...

    @property
    def outbox(self) -> Outbox: ...


class PartsByName(Protocol):
    """Each mailbox's parts, built on first use (``forget`` drops a deleted mailbox's)."""

    def __call__(self, name: str) -> MailboxSending: ...

    def forget(self, name: str) -> None: ...


@dataclass(frozen=True)
class SendRequest:
    """A send request that passed every check: from its mailbox, ready to be stored."""

    mailbox: str
    message: OutgoingMessage = field(repr=False)
    options: SendOptions
    # The generation of the mailbox's row it was checked against (see Transport.admit).
    mailbox_generation: int | None = None


class SendService:
    """Turns a decoded send request into a stored message (and sends it when it may)."""

    def __init__(
        self,
        *,
        parts: Callable[[str], MailboxSending],
        clock: Clock,
        env_mailbox: str = "default",
    ) -> None:
        self._parts = parts
        self._clock = clock
        self._env_mailbox = env_mailbox

    def prepare(self, body: object, mailbox: str | None = None) -> SendRequest:
        """Parse and check ``body`` for ``mailbox`` (the environment's by default); raises the
        error that says what is wrong. Callers learn at once: nothing is accepted that cannot go
        out."""
        mailbox = mailbox or self._env_mailbox
        message = parse_send_request(body)
        assert isinstance(body, dict)  # parse_send_request refuses anything else
        options = parse_send_options(body, now=self._clock.now())
        generation = self._parts(mailbox).transport.admit(message)
        return SendRequest(mailbox, message, options, generation)

    def accept(
        self,
        request: SendRequest,
        *,
        request_id: str,
        deliver_now: bool = True,
        source: str = "http",
        claim: IdempotencyClaim | None = None,
    ) -> Accepted:
        """Store ``request``; with ``deliver_now=False`` only store it, for a running gateway to
        deliver. With ``claim``, its Idempotency-Key is claimed with it (IdempotencyKeyTaken:
        an earlier request holds it). Raises only when nothing was stored."""
        message_id = f"msg_{uuid.uuid4().hex}"
        parts = self._parts(request.mailbox)
        generation = request.mailbox_generation
        for checks in range(STALE_CHECKS + 1):
            try:
                accepted = parts.outbox.accept(
                    request.message,
                    message_id,
                    deliver_now=deliver_now,
                    options=request.options,
                    source=source,
                    mailbox_generation=generation if checks < STALE_CHECKS else None,
                    claim=claim,
                )
                break
            except StaleMailboxRow:
                # The mailbox changed since the message was checked: check it again against
                # the row as it is now (which may refuse it: 503, 403).
                parts.transport.forget_kept()
                generation = parts.transport.admit(request.message)
        log.debug("mailbox %s accepted %s (%s)", request.mailbox, message_id, accepted.outcome)
        return accepted

    def send(
        self,
        body: object,
        *,
        request_id: str,
        mailbox: str | None = None,
        deliver_now: bool = True,
        source: str = "http",
    ) -> Accepted:
        """``prepare`` and ``accept`` in one call."""
        return self.accept(
            self.prepare(body, mailbox),
            request_id=request_id,
            deliver_now=deliver_now,
            source=source,
        )
