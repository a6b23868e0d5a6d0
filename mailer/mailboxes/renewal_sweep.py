"""The renewal sweep: every mailbox's token renewed on its own schedule, by whoever finds it due.

Each pass claims the mailboxes whose renewal is due (a claim in the state store: workers and
hosts split the work and never renew one twice), renews them a few at a time, and logs one
summary line when it did work. One mailbox's slow, failing or throttled token endpoint holds
one thread for at most its timeout; every other mailbox goes on.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial

from mailer.mailboxes.tokens import Renewal, TokenService
from mailer.runtime.clock import Clock
from mailer.runtime.errors import GatewayError
from mailer.runtime.fanout import Fanout
from mailer.storage.ports import MailboxStore
from mailer.storage.records import Mailbox

log = logging.getLogger(__name__)

# The most mailboxes one process has claimed and not yet renewed.
MAX_IN_FLIGHT = 16
# A renewal this late (a restart, an outage, a mass connection) gets a spread next renewal.
LATE_SECONDS = 60.0


class _Pass:
    """The outcomes of one pass, summed up when its last renewal ends."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._outcomes: Counter[Renewal] = Counter()
        self._guard = threading.Lock()

    def done(self, outcome: Renewal | None) -> Counter[Renewal] | None:
        with self._guard:
            if outcome is not None:
                self._outcomes[outcome] += 1
            self._left -= 1
            return self._outcomes if self._left == 0 else None


class RenewalSweep:
    def __init__(
        self,
        *,
        mailboxes: MailboxStore,
        tokens: TokenService,
        clock: Clock,
        fanout: Fanout,
        claim_seconds: float,
        steady: str = "default",
        after_renewal: Callable[[str], None] | None = None,
    ) -> None:
        self._mailboxes = mailboxes
        self._tokens = tokens
        self._clock = clock
        self._fanout = fanout
        self._claim_seconds = claim_seconds
        # The environment's mailbox keeps 0.1.0's exact schedule (lead seconds before expiry).
        self._steady = steady
        self._after_renewal = after_renewal

    def run(self) -> int:
        """One pass: claim what is due (as many as this process has room for) and renew it."""
        room = MAX_IN_FLIGHT - self._fanout.busy()
        if room <= 0:
            return 0
        now = self._clock.now()
        names = self._mailboxes.claim_due(
            now=now, claimed_until=now + self._claim_seconds, limit=room
        )
        sweep = _Pass(len(names))
        for name in names:
            if not self._fanout.submit(name, partial(self._renew, name, sweep)):
                self._finish(sweep, None)  # a renewal of it is still running here
        return len(names)

    def _renew(self, name: str, sweep: _Pass) -> None:
        outcome: Renewal | None = None
        try:
            result = self._tokens.renew(name, self._tokens.due, spread=self._spreads)
            outcome = result.outcome
            if outcome is Renewal.NOT_NEEDED:
                self._mailboxes.release_claim(name)  # renewed meanwhile by a request
                outcome = None
            elif outcome is Renewal.RENEWED and self._after_renewal is not None:
                assert result.mailbox is not None
                if result.mailbox.account is None:
                    self._after_renewal(name)
        except GatewayError as exc:
            log.warning("renewal sweep: mailbox %s: %s", name, exc.message)
            outcome = outcome or Renewal.FAILED
        finally:
            self._finish(sweep, outcome)

    def _spreads(self, mailbox: Mailbox, now: float) -> bool:
        """Whether the next renewal is drawn at random: a first token, or a late renewal (a
        restart, an outage, a mass connection bunched them), of any mailbox but the steady one."""
        late = mailbox.next_renewal_at is not None and now - mailbox.next_renewal_at > LATE_SECONDS
        return mailbox.name != self._steady and (mailbox.access_token is None or late)

    def _finish(self, sweep: _Pass, outcome: Renewal | None) -> None:
        outcomes = sweep.done(outcome)
        if outcomes:
            log.info(
                "renewal sweep: %d renewed, %d failed, %d throttled, %d need reconnecting",
                outcomes[Renewal.RENEWED],
                outcomes[Renewal.FAILED],
                outcomes[Renewal.THROTTLED],
                outcomes[Renewal.REFUSED],
            )
