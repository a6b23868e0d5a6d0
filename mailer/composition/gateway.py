"""The running gateway's parts, as the composition root wired them, and its timed work."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from mailer.composition.parts import PartsByMailbox
from mailer.config.settings import Settings
from mailer.events.webhooks import Webhooks
from mailer.mailboxes.admin import MailboxAdmin
from mailer.mailboxes.api_keys import KeyRing
from mailer.mailboxes.consent import ConsentFlow
from mailer.mailboxes.renewal_sweep import RenewalSweep
from mailer.mailboxes.tokens import TokenService
from mailer.runtime.clock import Clock
from mailer.runtime.errors import GatewayError, NotConfigured, StateBusy, StateUnavailable
from mailer.runtime.fanout import Fanout
from mailer.sending.outbox import Outbox
from mailer.sending.queue import QueueAdmin
from mailer.sending.service import SendService
from mailer.storage import retention
from mailer.storage.ports import Storage
from mailer.transports import Transport

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Everything a request or a scheduled job needs; built by ``create_app``."""

    settings: Settings
    clock: Clock
    storage: Storage
    parts: PartsByMailbox
    sending: SendService
    keys: KeyRing
    admin: MailboxAdmin
    queue: QueueAdmin
    deliveries: Fanout
    renewals: Fanout
    webhooks: Webhooks
    tokens: TokenService | None = None
    sweep: RenewalSweep | None = None
    consent: ConsentFlow | None = None
    # What else a serving process started (the SMTP listener), stopped with it.
    on_stop: list[Callable[[], None]] = field(default_factory=list, repr=False)
    # Whether this process's timed work last found the state store unreachable.
    _state_down: bool = field(default=False, repr=False)
    _state_guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def transport(self) -> Transport:
        """The environment's mailbox's transport."""
        return self.parts(self.settings.mailbox).transport

    @property
    def outbox(self) -> Outbox:
        """The environment's mailbox's outbox."""
        return self.parts(self.settings.mailbox).outbox

    @property
    def open_without_keys(self) -> bool:
        """The dry run with no keys configured accepts sends from anyone on purpose."""
        return self.settings.transport == "outbox" and not self.settings.api_keys

    def consent_flow(self) -> ConsentFlow:
        if self.consent is None:
            raise NotConfigured(
                "setup needs the zoho transport: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET"
            )
        return self.consent

    def startup(self) -> None:
        """A worker's first timed job: a valid token before the first request needs one."""
        if self.tokens is not None:
            tokens = self.tokens
            self._run("startup", lambda: tokens.startup(self.settings.mailbox))

    def deliver(self) -> None:
        """The delivery loop's heartbeat: each mailbox with due messages sends them, as its
        pacing allows, a few mailboxes at a time."""
        self._run("delivery", self._deliver_due)

    def _deliver_due(self) -> None:
        if self.webhooks.configured:
            # A key of its own: never confused with a mailbox (names have no colon).
            self.deliveries.submit(
                "webhooks:", partial(self._run, "webhooks", self.webhooks.deliver_due)
            )
        for name in self.storage.messages.due_mailboxes(now=self.clock.now()):
            outbox = self.parts(name).outbox
            self.deliveries.submit(name, partial(self._run, "delivery", outbox.deliver_due))

    def stop(self) -> None:
        """A worker is exiting: drop the timed work's queued tasks (running ones end on their
        own, within one upstream timeout)."""
        self.deliveries.shutdown()
        self.renewals.shutdown()
        for stop in self.on_stop:
            stop()

    def housekeeping(self) -> None:
        """Forget what the retention period no longer keeps."""
        self._run("housekeeping", self._purge)

    def tick(self) -> None:
        """The scheduler's heartbeat: the renewal sweep renews every mailbox found due."""
        if self.sweep is not None:
            self._run("renewal sweep", self.sweep.run)

    def _purge(self) -> None:
        retention_seconds = self.settings.retention_days * 86400
        deleted = self.storage.purge(retention.cutoffs(self.clock.now(), retention_seconds))
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
