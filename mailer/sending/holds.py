"""Pauses and holds: a mailbox Zoho throttles waits; one Zoho may not be sending for stops
sending, keeps accepting, and probes.

Zoho does not document every answer its Mail API gives (throttles, sending limits, blocked
accounts, new codes). An answer without a rule fails no message: the message is retried, the
answer is kept for the admin, and ``hold_after`` of them in a row from different messages (or one
that says the account may not send) put the mailbox on hold. While held, one message is tried
every ``hold_probe_seconds``; when Zoho takes it (or an admin resumes the mailbox) the hold ends
and the queue drains at the pace.
"""

from __future__ import annotations

import logging
import re

from mailer.runtime.clock import Clock, utc_iso
from mailer.runtime.errors import ZohoUnknownAnswer
from mailer.sending.delivery_policy import DeliveryPolicy
from mailer.sending.view import hold_view
from mailer.storage.outbox_ports import CallLedger, EventMaker, MessageQueue, no_events
from mailer.storage.records import Hold, StoredMessage, WebhookEvent, ZohoAnswer

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_TOKEN = re.compile(r"\b\d{4}\.[0-9a-fA-F.]{16,}")
_LONG_ID = re.compile(r"\d{12,}")
MAX_DESCRIPTION_CHARS = 200


def redacted(text: str | None) -> str | None:
    """Zoho's words without an address, a token or an id in them (they may echo the request)."""
    if not text:
        return None
    text = _TOKEN.sub("<token>", text)
    text = _ADDRESS.sub("<address>", text)
    return _LONG_ID.sub("<id>", text)[:MAX_DESCRIPTION_CHARS]


class MailboxHolds:
    """One mailbox's hold, shared by every worker and host through the state store."""

    def __init__(
        self,
        *,
        mailbox: str,
        ledger: CallLedger,
        messages: MessageQueue,
        clock: Clock,
        policy: DeliveryPolicy,
        events: EventMaker = no_events,
    ) -> None:
        self._mailbox = mailbox
        self._ledger = ledger
        self._messages = messages
        self._clock = clock
        self._policy = policy
        self._events = events

    def unknown(self, stored: StoredMessage, exc: ZohoUnknownAnswer) -> None:
        """Keep an answer without a rule; hold the mailbox when it is one too many."""
        now = self._clock.now()
        answer = ZohoAnswer(
            at=now,
            call=exc.call,
            http_status=exc.zoho_status,
            code=redacted(exc.zoho_error_code),
            description=redacted(exc.description),
        )
        hold = self._ledger.note_unknown(
            self._mailbox,
            stored.id,
            answer,
            hold_after=self._policy.hold_after,
            blocks=exc.blocks_account,
            next_probe_at=now + self._policy.hold_probe_seconds,
            held=lambda hold: self._event("mailbox.held", hold),
        )
        log.warning(
            "mailbox %s: Zoho's %s call for %s was answered HTTP %s %s, which the gateway has no "
            "rule for; the message is retried",
            self._mailbox,
            exc.call,
            stored.id,
            exc.zoho_status,
            answer.code or "",
        )
        if hold is not None:
            log.error(
                "mailbox %s is on hold (%s): nothing is sent from it but one probe every %d s; "
                "sends are still accepted. Zoho said: HTTP %s %s %s. Resume it by hand with "
                "POST /api/email/mailboxes/%s/resume once the cause is fixed",
                self._mailbox,
                hold.reason,
                self._policy.hold_probe_seconds,
                answer.http_status,
                answer.code or "",
                answer.description or "",
                self._mailbox,
            )

    def throttled(self) -> float:
        """Zoho throttled the mailbox: no calls for a while, longer each time in a row; returns
        until when."""
        pause = self._ledger.pause(self._mailbox)
        throttles = (pause.throttles if pause else 0) + 1
        until = self._clock.now() + self._policy.throttle_pause(throttles)
        self._ledger.set_pause(self._mailbox, paused_until=until, throttles=throttles)
        log.warning(
            "Zoho throttled mailbox %s; its delivery paused until %s", self._mailbox, utc_iso(until)
        )
        return until

    def settled(self) -> None:
        """Zoho took a message: the streak is over, and so is a hold (the queue drains)."""
        hold = self._ledger.settle(
            self._mailbox, resumed=lambda hold: self._event("mailbox.resumed", hold)
        )
        if hold is not None:
            self._release(hold, "a probe went through")

    def resume(self) -> Hold | None:
        """An admin ends the hold; returns it (None: the mailbox was not held)."""
        hold = self._ledger.end_hold(
            self._mailbox, resumed=lambda hold: self._event("mailbox.resumed", hold)
        )
        if hold is not None:
            self._release(hold, "resumed by an admin")
        return hold

    def probe(self, hold: Hold, *, owner: str, lease_seconds: float) -> StoredMessage | None:
        """The held mailbox's next probe, if it is due and this process got it."""
        now = self._clock.now()
        if hold.next_probe_at > now or not self._ledger.claim_probe(
            self._mailbox, now=now, next_probe_at=now + self._policy.hold_probe_seconds
        ):
            return None
        stored = self._messages.claim_probe(
            self._mailbox,
            held_since=hold.since,
            now=now,
            owner=owner,
            leased_until=now + lease_seconds,
        )
        if stored is not None:
            log.info("mailbox %s is on hold: probing with %s", self._mailbox, stored.id)
        return stored

    def _release(self, hold: Hold, why: str) -> None:
        now = self._clock.now()
        released = self._messages.release_held(self._mailbox, now=now)
        log.info(
            "mailbox %s: the hold since %s ended (%s); %d waiting messages go out at the pace",
            self._mailbox,
            utc_iso(hold.since),
            why,
            released,
        )

    def _event(self, event_type: str, hold: Hold) -> WebhookEvent | None:
        return self._events(event_type, {"name": self._mailbox, "hold": hold_view(hold)})
