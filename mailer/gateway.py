"""The running gateway's parts, as the composition root wired them, and its timed work."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailer.consent import ConsentFlow
from mailer.errors import GatewayError, NotReady
from mailer.receipts import Transport
from mailer.sending import SendService
from mailer.settings import Settings
from mailer.spool import Spool
from mailer.store import Store
from mailer.tokens import TokenService

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Everything a request or a scheduled job needs; built by ``create_app``."""

    settings: Settings
    store: Store
    transport: Transport
    sending: SendService
    spool: Spool
    tokens: TokenService | None = None
    consent: ConsentFlow | None = None

    @property
    def open_without_keys(self) -> bool:
        """The dry run with no keys configured accepts sends from anyone on purpose."""
        return self.settings.transport == "outbox" and not self.settings.api_keys

    def consent_flow(self) -> ConsentFlow:
        if self.consent is None:
            raise NotReady(
                "setup needs the zoho transport: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET",
                code="not_configured",
            )
        return self.consent

    def startup(self) -> None:
        """A worker's first timed job: a valid token before the first request needs one."""
        if self.tokens is None:
            return
        try:
            self.tokens.startup(self.settings.connection_id)
        except GatewayError as exc:
            log.warning("startup: %s", exc.message)

    def deliver(self) -> None:
        """The delivery loop's heartbeat: send whatever is due, as pacing allows."""
        self.spool.deliver_due()

    def housekeeping(self) -> None:
        """Forget what the retention period no longer keeps."""
        self.spool.purge()

    def tick(self) -> None:
        """The scheduler's heartbeat; the token service decides whether anything is due."""
        if self.tokens is None:
            return
        try:
            self.tokens.tick(self.settings.connection_id)
        except GatewayError as exc:
            log.warning("scheduled renewal: %s", exc.message)
