"""A serving process's timed work: the first token, the renewal sweep, deliveries, webhooks,
housekeeping. The scheduler only ticks; each job asks the service that decides."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from mailer.composition.parts import PartsByMailbox
from mailer.events.webhooks import Webhooks
from mailer.mailboxes.tokens import TokenService
from mailer.runtime.clock import Clock
from mailer.runtime.errors import GatewayError, StateBusy, StateUnavailable
from mailer.runtime.fanout import Fanout
from mailer.storage.ports import Storage
from mailer.storage.retention import cutoffs

log = logging.getLogger(__name__)


class Sweep(Protocol):
    def run(self) -> int: ...


class NoSweep:
    """The dry run renews nothing."""

    def run(self) -> int:
        return 0


@dataclass
class TimedJobs:
    """What the scheduler's ticks run in one serving process; built by ``wire``."""

    mailbox: str
    retention_seconds: float
    clock: Clock
    storage: Storage
    parts: PartsByMailbox
    webhooks: Webhooks
    sweep: Sweep
    deliveries: Fanout
    renewals: Fanout
    tokens: TokenService | None = None
    # Reading each mailbox's bounces back (MAILER_BOUNCES=on), and the threads it reads on.
    bounces: Sweep = field(default_factory=NoSweep)
    bounce_reads: Fanout | None = None
    # What else a serving process started (the SMTP listener), stopped with it.
    on_stop: list[Callable[[], None]] = field(default_factory=list, repr=False)
    # Whether this process's timed work last found the state store unreachable.
    _state_down: bool = field(default=False, repr=False)
    _state_guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def startup(self) -> None:
        """A worker's first timed job: a valid token before the first request needs one."""
        if self.tokens is not None:
            tokens = self.tokens
            self._run("startup", lambda: tokens.startup(self.mailbox))

    def tick(self) -> None:
        """The scheduler's heartbeat: the renewal sweep renews every mailbox found due."""
        self._run("renewal sweep", self.sweep.run)

    def deliver(self) -> None:
        """The delivery loop's heartbeat: each mailbox with due messages sends them, as its
        pacing allows, a few mailboxes at a time."""
        self._run("delivery", self._deliver_due)

    def read_bounces(self) -> None:
        """Claim the mailboxes due to have their Inbox read for bounces, and read them."""
        self._run("bounces", self.bounces.run)

    def housekeeping(self) -> None:
        """Forget what the retention period no longer keeps."""
        self._run("housekeeping", self._purge)

    def stop(self) -> None:
        """A worker is exiting: drop the timed work's queued tasks (running ones end on their
        own, within one upstream timeout)."""
        self.deliveries.shutdown()
        self.renewals.shutdown()
        if self.bounce_reads is not None:
            self.bounce_reads.shutdown()
        for stop in self.on_stop:
            stop()

    def _deliver_due(self) -> None:
        if self.webhooks.configured:
            # A key of its own: never confused with a mailbox (names have no colon).
            self.deliveries.submit(
                "webhooks:", partial(self._run, "webhooks", self.webhooks.deliver_due)
            )
        now = self.clock.now()
        due = self.storage.messages.due_mailboxes(now=now)
        # A held mailbox's messages wait past their retry time; its probe comes on its own time.
        for name in dict.fromkeys([*due, *self.storage.ledger.probes_due(now=now)]):
            outbox = self.parts(name).outbox
            self.deliveries.submit(name, partial(self._run, "delivery", outbox.deliver_due))

    def _purge(self) -> None:
        deleted = self.storage.purge(cutoffs(self.clock.now(), self.retention_seconds))
        if deleted:
            log.info("purged %d messages older than the retention period", deleted)

    def _run(self, job: str, work: Callable[[], object]) -> None:
        """Run one timed job; an outage of the state store is logged once, not every second."""
        try:
            work()
        except (StateUnavailable, StateBusy) as exc:
            if self._state_changed(down=True):
                log.error("%s: %s; the timed work goes on once it answers", job, exc.message)
            return
        except GatewayError as exc:
            log.warning("%s: %s", job, exc.message)
            return
        if self._state_changed(down=False):
            log.info("the state store answers again; the timed work goes on")

    def _state_changed(self, *, down: bool) -> bool:
        """Record whether the state store answered; True when that changed."""
        with self._state_guard:
            changed = self._state_down != down
            self._state_down = down
            return changed
