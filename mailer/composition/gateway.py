"""The running gateway as the doors (HTTP, SMTP, the command line) use it; built by ``wire``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from mailer.composition.parts import PartsByMailbox
from mailer.composition.timed_jobs import TimedJobs
from mailer.config.settings import Settings
from mailer.mailboxes.admin import MailboxAdmin
from mailer.mailboxes.api_keys import KeyRing
from mailer.mailboxes.consent import Connected, ConsentStart
from mailer.mailboxes.consent_state import AlreadyConnected
from mailer.runtime.clock import Clock
from mailer.runtime.errors import NotConfigured
from mailer.sending.outbox import Outbox
from mailer.sending.queue import QueueAdmin
from mailer.sending.service import SendService
from mailer.storage.ports import Storage
from mailer.transports import Transport
from mailer.zoho.http import ZohoSession


class Consent(Protocol):
    """Zoho's consent flow, started and finished in the browser."""

    def start(self, mailbox: str | None = None, *, via_link: bool = False) -> ConsentStart: ...

    def finish(
        self, params: Mapping[str, str], browser_nonce: str | None, *, host: str
    ) -> Connected | AlreadyConnected: ...


class NoConsent:
    """The dry run has no OAuth client: setup says what it needs."""

    def start(self, mailbox: str | None = None, *, via_link: bool = False) -> ConsentStart:
        raise self._not_configured()

    def finish(
        self, params: Mapping[str, str], browser_nonce: str | None, *, host: str
    ) -> Connected | AlreadyConnected:
        raise self._not_configured()

    @staticmethod
    def _not_configured() -> NotConfigured:
        return NotConfigured(
            "setup needs the zoho transport: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET"
        )


@dataclass
class Gateway:
    """Everything a request or a command needs, and the process's timed work."""

    settings: Settings
    clock: Clock
    storage: Storage
    parts: PartsByMailbox
    sending: SendService
    keys: KeyRing
    admin: MailboxAdmin
    queue: QueueAdmin
    consent: Consent
    jobs: TimedJobs
    # The Session every call to Zoho goes through (the live check listens on it); None: dry run.
    zoho_session: ZohoSession | None = None

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
