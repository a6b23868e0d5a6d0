"""Store and forward: persist every accepted message, deliver it at a safe pace, retry, report.

A message is written to the store before any call to Zoho. When pacing allows and the mailbox
is not paused, the request that accepted it delivers it at once (holding its lease); otherwise
the delivery loop of some worker claims it later. A claim is a lease: a worker that dies
mid-attempt leaves the message due again once the lease runs out, so delivery is at least once.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
from dataclasses import replace

from mailer.runtime import metrics, pacing
from mailer.runtime.clock import Clock, utc_iso
from mailer.runtime.errors import (
    Forbidden,
    GatewayError,
    InvalidRequest,
    MailboxOnHold,
    NotReady,
    UpstreamRejected,
    ZohoThrottled,
    ZohoUnknownAnswer,
)
from mailer.runtime.logs import fields
from mailer.runtime.pacing import RateLimit
from mailer.sending.back_pressure import RefusalReports
from mailer.sending.delivery_policy import DeliveryPolicy
from mailer.sending.holds import MailboxHolds
from mailer.sending.options import SendOptions
from mailer.sending.request import OutgoingMessage
from mailer.sending.results import (
    Accepted,
    IdempotencyKeyTaken,
    OutboxStats,
    StaleMailboxRow,
    finished,
    from_stored,
    outbox_stats,
    to_new_message,
)
from mailer.sending.view import message_view
from mailer.storage.admission_records import AcceptGate, IdempotencyClaim
from mailer.storage.outbox_ports import Admissions, EventMaker, no_events
from mailer.storage.ports import CallLedger, MessageQueue
from mailer.storage.records import Hold, Outcome, StoredMessage
from mailer.transports import Receipt, Transport

log = logging.getLogger(__name__)


# How long messages wait before the gateway looks again whether the mailbox is reconnected.
HOLD_RECHECK_SECONDS = 30.0
# An inline attempt starts at most this long after its permits were taken: inside the margin.
MAX_PERMIT_AGE_SECONDS = pacing.MARGIN_MIN_SECONDS / 2
# A pause for a permit shorter than this is waited out in the delivery loop itself.
MAX_INLINE_WAIT_SECONDS = 1.0
# The most one delivery pass sends, so that a pass ends and shutdown stays prompt.
MAX_PER_PASS = 200


class Outbox:
    """The outbox of one mailbox, shared by every worker and host through the state store."""

    def __init__(
        self,
        *,
        mailbox: str,
        messages: MessageQueue,
        ledger: CallLedger,
        transport: Transport,
        clock: Clock,
        policy: DeliveryPolicy,
        limits: tuple[RateLimit, ...],
        admissions: Admissions,
        refusals: RefusalReports,
        gate: AcceptGate | None = None,
        rng: random.Random | None = None,
        events: EventMaker = no_events,
    ) -> None:
        self._mailbox = mailbox
        self._admissions = admissions
        self._gate = gate or AcceptGate()
        self._refusals = refusals
        self._events = events
        self._messages = messages
        self._ledger = ledger
        self._transport = transport
        self._clock = clock
        self._policy = policy
        self._windows = pacing.windows_for(limits)
        self._rng = rng or random.Random()
        self._nonce = secrets.token_hex(4)
        self.holds = MailboxHolds(
            mailbox=mailbox,
            ledger=ledger,
            messages=messages,
            clock=clock,
            policy=policy,
            events=events,
        )

    @property
    def _owner(self) -> str:
        """Who holds a lease: this process (workers fork from one master, so read the pid now)."""
        return f"{os.getpid()}-{self._nonce}"

    # Accepting ---------------------------------------------------------------------------

    def accept(
        self,
        message: OutgoingMessage,
        message_id: str,
        *,
        deliver_now: bool = True,
        options: SendOptions | None = None,
        source: str = "http",
        mailbox_generation: int | None = None,
        claim: IdempotencyClaim | None = None,
    ) -> Accepted:
        """Persist ``message`` (with its tags, metadata and source); deliver it now when pacing
        allows (and ``deliver_now``, and it is not scheduled), else leave it queued.

        Raises only when the message could not be stored: then nothing was accepted.
        """
        options = options or SendOptions()
        now = self._clock.now()
        calls = self._transport.calls_for(message)
        # Leased for an attempt now, its permits taken at ``now``, if the pace allows one.
        new = to_new_message(message_id, self._mailbox, message, options, source, calls)
        new = replace(new, mailbox_generation=mailbox_generation, claim=claim)
        admission = self._admissions.admit(
            new,
            now=now,
            windows=self._windows,
            gate=self._gate,
            lease_owner=self._owner if deliver_now else None,
            leased_until=now + self._policy.lease_seconds,
        )
        if admission.stale:
            raise StaleMailboxRow(self._mailbox)
        if admission.replay is not None:
            raise IdempotencyKeyTaken(admission.replay)
        if admission.stored is None:
            assert admission.refusal is not None
            raise self._refusals.refused(
                self._mailbox, admission.refusal, admission.retry_after_seconds, new.recipients
            )
        stored, inline = admission.stored, admission.inline
        metrics.message_reached(self._mailbox, stored.status)
        if inline:
            # A call that leaves well after its permits' time could bunch with the next
            # window's calls as Zoho counts them: the delivery loop sends it with new ones.
            if self._clock.now() - now <= MAX_PERMIT_AGE_SECONDS:
                receipt, failure = self._attempt(stored, message)
                return Accepted(message_id, receipt, failure)
            self._wait(stored, self._clock.now())
        scheduled = options.send_at is not None
        log.info(
            "mailbox %s: %s %s for the delivery loop%s",
            self._mailbox,
            "scheduled" if scheduled else "queued",
            message_id,
            f" at {utc_iso(options.send_at)}" if scheduled else " (the pace, a pause or a hold)",
        )
        return Accepted(message_id, scheduled=scheduled, answered=admission.answered)

    # Delivering --------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """One pass of the delivery loop: send due messages while pacing allows; returns sent."""
        sent = 0
        for _ in range(MAX_PER_PASS):
            now = self._clock.now()
            pause = self._ledger.pause(self._mailbox)
            if pause is not None and pause.hold is not None:
                return sent + self._probe(pause.hold)
            if (pause is not None and pause.paused(now)) or self._transport.hold_reason():
                break
            stored = self._messages.claim_due(
                self._mailbox,
                now=now,
                owner=self._owner,
                leased_until=now + self._policy.lease_seconds,
            )
            if stored is None:
                break
            wait = self._take_permits(stored.calls, now)
            if 0 < wait <= MAX_INLINE_WAIT_SECONDS:
                self._clock.sleep(wait)
                wait = self._take_permits(stored.calls, self._clock.now())
            if wait > 0:
                # No permit now: back to the queue until one frees up; the next pass sends it.
                self._wait(stored, self._clock.now() + wait)
                break
            receipt, _ = self._attempt(stored, from_stored(stored))
            sent += receipt is not None
        return sent

    def _probe(self, hold: Hold) -> int:
        """A held mailbox sends nothing but its probe, when one is due (and pacing allows)."""
        stored = self.holds.probe(hold, owner=self._owner, lease_seconds=self._policy.lease_seconds)
        if stored is None:
            return 0
        wait = self._take_permits(stored.calls, self._clock.now())
        if wait > 0:
            self._wait(stored, self._clock.now() + wait)
            return 0
        receipt, _ = self._attempt(stored, from_stored(stored))
        return int(receipt is not None)

    def _attempt(
        self, stored: StoredMessage, message: OutgoingMessage
    ) -> tuple[Receipt | None, GatewayError | None]:
        """One delivery attempt of a message this process holds the lease of.

        Returns the receipt when sent, the error when the message failed for good (an inline
        caller answers with it), and neither when it will be retried.
        """
        attempts = stored.attempts + 1
        try:
            receipt = self._transport.send(message, stored.id)
        except (UpstreamRejected, InvalidRequest, Forbidden) as exc:  # final: retrying cannot fix
            self._fail(stored, attempts, exc)
            return None, exc
        except NotReady as exc:
            self._not_now(stored, attempts, exc)
            return None, None
        except ZohoUnknownAnswer as exc:
            self.holds.unknown(stored, exc)
            self._retry_or_fail(stored, attempts, exc.code, exc.message)
            return None, None
        except GatewayError as exc:
            self._retry_or_fail(stored, attempts, exc.code, exc.message)
            return None, None
        except Exception as exc:
            log.exception("unexpected error delivering %s", stored.id)
            self._retry_or_fail(stored, attempts, "internal_error", type(exc).__name__)
            return None, None
        now = self._clock.now()
        sent = Outcome(
            "sent", attempts, zoho_message_id=receipt.zoho_message_id, mail_id=receipt.mail_id
        )
        if not self._finish(stored, sent, now):
            log.warning("sent %s after its lease ran out; it may be delivered twice", stored.id)
        self.holds.settled()
        log.info(
            "delivered %s zoho_message_id=%s attempt=%d",
            stored.id,
            receipt.zoho_message_id,
            attempts,
            extra=fields(
                "delivered",
                mailbox=self._mailbox,
                message_id=stored.id,
                outcome="sent",
                attempt=attempts,
            ),
        )
        return receipt, None

    def _not_now(self, stored: StoredMessage, attempts: int, exc: NotReady) -> None:
        if isinstance(exc, ZohoThrottled):
            self._wait(stored, self.holds.throttled(), exc)
        elif isinstance(exc, MailboxOnHold):
            self._wait(stored, self._clock.now() + HOLD_RECHECK_SECONDS, exc)
        else:
            self._retry_or_fail(stored, attempts, exc.code, exc.message)

    def _wait(self, stored: StoredMessage, until: float, why: GatewayError | None = None) -> None:
        """Back to the queue until ``until``, the attempt not counted (it never reached Zoho,
        or Zoho asked us to wait)."""
        self._messages.retry(
            stored.id,
            self._owner,
            next_attempt_at=until,
            attempts=stored.attempts,
            now=self._clock.now(),
            error_code=why.code if why else None,
            error=why.message if why else None,
        )

    def _retry_or_fail(self, stored: StoredMessage, attempts: int, code: str, error: str) -> None:
        now = self._clock.now()
        too_old = now - (stored.requeued_at or stored.created_at) >= self._policy.max_age_seconds
        if attempts >= self._policy.max_attempts or too_old:
            why = "too old" if too_old else f"{attempts} attempts"
            gave_up = Outcome(
                "failed", attempts, error_code=code, error=f"gave up after {why}: {error}"
            )
            self._finish(stored, gave_up, now)
            log.error("mailbox %s: gave up on %s after %s: %s", self._mailbox, stored.id, why, code)
            return
        delay = self._policy.retry_delay(attempts, self._rng)
        self._messages.retry(
            stored.id,
            self._owner,
            next_attempt_at=now + delay,
            attempts=attempts,
            now=now,
            error_code=code,
            error=error,
        )
        log.warning(
            "mailbox %s: attempt %d of %s failed (%s); retry in %d s",
            *(self._mailbox, attempts, stored.id, code, delay),
        )

    def _fail(self, stored: StoredMessage, attempts: int, exc: GatewayError) -> None:
        zoho_code = exc.zoho_error_code if isinstance(exc, UpstreamRejected) else None
        failed = Outcome(
            "failed", attempts, error_code=exc.code, error=exc.message, zoho_error_code=zoho_code
        )
        self._finish(stored, failed, self._clock.now())
        log.warning(
            "mailbox %s: %s failed for good: %s %s", self._mailbox, stored.id, exc.code, zoho_code
        )

    def _finish(self, stored: StoredMessage, outcome: Outcome, now: float) -> bool:
        """Record a final outcome while this process holds the lease (counted once), with its
        webhook event in the same transaction."""
        event = self._events(
            f"message.{outcome.status}", message_view(finished(stored, outcome, now))
        )
        if not self._messages.finish(stored.id, self._owner, outcome, now=now, event=event):
            return False
        metrics.message_reached(self._mailbox, outcome.status)
        return True

    def _take_permits(self, calls: int, now: float) -> float:
        """Permits for ``calls`` now (the delivery loop's; an inline send took its own)."""
        return self._ledger.take(self._mailbox, calls, self._windows, now=now)

    # Reporting ----------------------------------------------------------------------------

    def get(self, message_id: str) -> StoredMessage | None:
        """A message of this mailbox (another mailbox's is as good as unknown)."""
        stored = self._messages.get(message_id)
        return stored if stored is not None and stored.mailbox == self._mailbox else None

    def hold(self) -> Hold | None:
        pause = self._ledger.pause(self._mailbox)
        return pause.hold if pause is not None else None

    def stats(self) -> OutboxStats:
        return outbox_stats(self._messages, self._ledger, self._mailbox, self._clock.now())
