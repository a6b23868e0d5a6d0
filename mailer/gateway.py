"""The running gateway's parts, as the composition root wired them, and its timed work."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailer import retention
from mailer.clock import Clock
from mailer.consent import ConsentFlow
from mailer.errors import GatewayError, NotConfigured
from mailer.outbox import Outbox
from mailer.send_requests import SendService
from mailer.settings import Settings
from mailer.storage.ports import Storage
from mailer.tokens import TokenService
from mailer.transports import Transport

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Everything a request or a scheduled job needs; built by ``create_app``."""

    settings: Settings
    clock: Clock
    storage: Storage
    transport: Transport
    sending: SendService
    outbox: Outbox
    tokens: TokenService | None = None
    consent: ConsentFlow | None = None

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
        if self.tokens is None:
            return
        try:
            self.tokens.startup(self.settings.mailbox)
        except GatewayError as exc:
            log.warning("startup: %s", exc.message)

    def deliver(self) -> None:
        """The delivery loop's heartbeat: send whatever is due, as pacing allows."""
        try:
            self.outbox.deliver_due()
        except GatewayError as exc:  # the state store is down: the next beat tries again
            log.warning("delivery: %s", exc.message)

    def housekeeping(self) -> None:
        """Forget what the retention period no longer keeps."""
        retention_seconds = self.settings.retention_days * 86400
        deleted = self.storage.purge(retention.cutoffs(self.clock.now(), retention_seconds))
        if deleted:
            log.info("purged %d messages older than the retention period", deleted)

    def tick(self) -> None:
        """The scheduler's heartbeat; the token service decides whether anything is due."""
        if self.tokens is None:
            return
        try:
            self.tokens.tick(self.settings.mailbox)
        except GatewayError as exc:
            log.warning("scheduled renewal: %s", exc.message)
