"""The composition of the services: the Zoho clients, the token service, each mailbox's transport
and outbox, the doors' services and the timed work; ``create_app`` calls ``wire``.

Without an OAuth client (the dry run) the Zoho-facing services are null objects: no consent, no
renewal sweep, and every mailbox writes ``.eml`` files instead of sending.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from mailer.composition.bounce_reading import bounce_poll
from mailer.composition.gateway import Consent, Gateway, NoConsent
from mailer.composition.parts import MailboxParts, PartsByMailbox
from mailer.composition.timed_jobs import NoSweep, Sweep, TimedJobs
from mailer.config.settings import Settings
from mailer.events.webhooks import Webhooks
from mailer.mailboxes.admin import MailboxAdmin
from mailer.mailboxes.api_keys import KeyRing
from mailer.mailboxes.consent import ConsentFlow
from mailer.mailboxes.renewal_sweep import RenewalSweep
from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.clock import Clock
from mailer.runtime.fanout import Fanout
from mailer.sending.back_pressure import RefusalReports
from mailer.sending.delivery_policy import DeliveryPolicy
from mailer.sending.outbox import Outbox
from mailer.sending.queue import QueueAdmin
from mailer.sending.service import SendService
from mailer.storage.admission_records import AcceptGate
from mailer.storage.ports import Storage
from mailer.transports import Transport
from mailer.transports.dry_run import DryRunTransport
from mailer.transports.zoho import ZohoTransport
from mailer.zoho.accounts import READ_SCOPES, SCOPES, ZohoAccounts
from mailer.zoho.http import ZohoSession
from mailer.zoho.mail import ZohoMail

log = logging.getLogger(__name__)

# Renewals and deliveries run a few at a time per process, so that one slow mailbox (its token
# endpoint or Mail API hanging until the timeout) holds one thread and no other mailbox waits.
RENEWAL_THREADS = 4
DELIVERY_THREADS = 4


@dataclass(frozen=True)
class Zoho:
    """The gateway's clients of Zoho: the OAuth server, the Mail API, and the token service."""

    accounts: ZohoAccounts
    mail: ZohoMail
    tokens: TokenService
    session: ZohoSession


@dataclass(frozen=True)
class Upstreams:
    """What the gateway calls out to; tests hand in their own Sessions and random source."""

    session: ZohoSession | None = None
    webhook_session: requests.Session | None = None
    rng: random.Random | None = None


def wire(
    settings: Settings, clock: Clock, storage: Storage, upstreams: Upstreams, inline: bool
) -> Gateway:
    """The services, and each mailbox's transport and outbox as it is first used; ``inline``
    runs the timed work's renewals and deliveries in the caller's thread (for tests)."""
    webhooks = Webhooks(
        settings=settings, queue=storage.webhooks, clock=clock, session=upstreams.webhook_session
    )
    zoho = (
        _zoho(settings, clock, storage, upstreams, webhooks)
        if settings.transport == "zoho"
        else None
    )
    if zoho is None:
        _announce_dry_run(settings)
    parts = PartsByMailbox(_mailbox_builder(settings, clock, storage, zoho, webhooks, upstreams))
    keys = KeyRing(
        env_keys=settings.api_keys,
        store=storage.api_keys,
        clock=clock,
        env_mailbox=settings.mailbox,
    )
    admin = MailboxAdmin(
        settings=settings,
        storage=storage,
        clock=clock,
        keys=keys,
        parts=parts,
        tokens=zoho.tokens if zoho else None,
        accounts=zoho.accounts if zoho else None,
        events=webhooks.event,
    )
    renewals = Fanout("renewal", threads=RENEWAL_THREADS, inline=inline)
    bounces, bounce_reads = bounce_poll(
        settings,
        clock,
        storage,
        tokens=zoho.tokens if zoho else None,
        session=zoho.session if zoho else None,
        events=webhooks.event,
        inline=inline,
        look_up_account=lambda name: parts(name).transport.look_up_account(),
    )
    return Gateway(
        settings=settings,
        clock=clock,
        storage=storage,
        parts=parts,
        sending=SendService(parts=parts, clock=clock, env_mailbox=settings.mailbox),
        keys=keys,
        admin=admin,
        queue=QueueAdmin(messages=storage.messages, clock=clock),
        consent=_consent(settings, clock, storage, zoho, webhooks),
        jobs=TimedJobs(
            mailbox=settings.mailbox,
            retention_seconds=settings.retention_days * 86400,
            clock=clock,
            storage=storage,
            parts=parts,
            webhooks=webhooks,
            sweep=_sweep(settings, clock, storage, zoho, parts, renewals),
            deliveries=Fanout("delivery", threads=DELIVERY_THREADS, inline=inline),
            renewals=renewals,
            tokens=zoho.tokens if zoho else None,
            bounces=bounces,
            bounce_reads=bounce_reads,
        ),
        zoho_session=zoho.session if zoho else None,
    )


def _zoho(
    settings: Settings, clock: Clock, storage: Storage, upstreams: Upstreams, webhooks: Webhooks
) -> Zoho:
    assert settings.zoho_client_id is not None
    assert settings.zoho_client_secret is not None
    session = upstreams.session or ZohoSession(settings.zoho_timeout_seconds)
    accounts = ZohoAccounts(
        client_id=settings.zoho_client_id,
        client_secret=settings.zoho_client_secret,
        redirect_uri=settings.zoho_redirect_uri,
        session=session,
        home_accounts_url=settings.zoho_accounts_url,
        scopes=SCOPES + READ_SCOPES if settings.bounces else SCOPES,
    )
    tokens = TokenService(
        mailboxes=storage.mailboxes,
        accounts=accounts,
        locks=storage.locks,
        clock=clock,
        policy=_renewal_policy(settings),
        rng=upstreams.rng,
        events=webhooks.event,
    )
    return Zoho(accounts, ZohoMail(session), tokens, session)


def _renewal_policy(settings: Settings) -> RenewalPolicy:
    return RenewalPolicy(
        lead_seconds=settings.refresh_lead_seconds,
        buffer_seconds=settings.refresh_buffer_seconds,
        retry_seconds=settings.refresh_retry_seconds,
    )


def _mailbox_builder(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    zoho: Zoho | None,
    webhooks: Webhooks,
    upstreams: Upstreams,
) -> Callable[[str], MailboxParts]:
    """How a mailbox's transport and outbox are built when it is first used."""
    dry_run = DryRunTransport(Path(settings.outbox_dir), clock, settings.zoho_from_address)
    delivery = DeliveryPolicy(
        max_attempts=settings.max_attempts,
        retry_seconds=settings.retry_seconds,
        max_age_seconds=settings.max_age_hours * 3600,
        lease_seconds=settings.delivery_lease_seconds,
        hold_after=settings.hold_after,
        hold_probe_seconds=settings.hold_probe_minutes * 60,
    )
    gate = AcceptGate(settings.accept_limits, settings.max_queued, settings.repeat_limits)
    refusals = RefusalReports(storage.admissions, storage.suppressions, clock)

    def build(name: str) -> MailboxParts:
        transport: Transport = (
            dry_run if zoho is None else _zoho_transport(name, settings, clock, storage, zoho)
        )
        outbox = Outbox(
            mailbox=name,
            messages=storage.messages,
            ledger=storage.ledger,
            transport=transport,
            clock=clock,
            policy=delivery,
            limits=settings.rate_limits if zoho is not None else (),
            admissions=storage.admissions,
            gate=gate,
            refusals=refusals,
            rng=upstreams.rng,
            events=webhooks.event,
        )
        return MailboxParts(transport, outbox)

    return build


def _zoho_transport(
    name: str, settings: Settings, clock: Clock, storage: Storage, zoho: Zoho
) -> ZohoTransport:
    """A mailbox sending through Zoho Mail; the environment's takes ZOHO_ACCOUNT_ID and
    ZOHO_FROM_ADDRESS, every other its own stored sender."""
    own = name == settings.mailbox
    stored = None if own else storage.mailboxes.get(name)
    return ZohoTransport(
        mailbox=name,
        mailboxes=storage.mailboxes,
        tokens=zoho.tokens,
        mail=zoho.mail,
        locks=storage.locks,
        clock=clock,
        account_id=settings.zoho_account_id if own else None,
        default_sender=settings.zoho_from_address
        if own
        else stored.from_address
        if stored
        else None,
        api_domain=settings.zoho_api_domain,
    )


def _consent(
    settings: Settings, clock: Clock, storage: Storage, zoho: Zoho | None, webhooks: Webhooks
) -> Consent:
    if zoho is None:
        return NoConsent()
    return ConsentFlow(
        mailbox=settings.mailbox,
        redirect_uri=settings.zoho_redirect_uri,
        accounts_url=settings.zoho_accounts_url,
        api_domain=settings.zoho_api_domain,
        account_id=settings.zoho_account_id,
        from_address=settings.zoho_from_address,
        mailboxes=storage.mailboxes,
        oauth_states=storage.oauth_states,
        accounts=zoho.accounts,
        mail=zoho.mail,
        clock=clock,
        policy=_renewal_policy(settings),
        events=webhooks.event,
    )


def _sweep(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    zoho: Zoho | None,
    parts: PartsByMailbox,
    renewals: Fanout,
) -> Sweep:
    if zoho is None:
        return NoSweep()
    return RenewalSweep(
        mailboxes=storage.mailboxes,
        tokens=zoho.tokens,
        clock=clock,
        fanout=renewals,
        claim_seconds=settings.delivery_lease_seconds,
        steady=settings.mailbox,
        after_renewal=lambda name: parts(name).transport.look_up_account(),
    )


def _announce_dry_run(settings: Settings) -> None:
    log.warning(
        "DRY RUN: no ZOHO_CLIENT_ID is set, so nothing is sent; every message is written to %s/ "
        "as an .eml file%s",
        settings.outbox_dir,
        "; sends need no API key (set MAILER_API_KEYS to require one)"
        if not settings.api_keys
        else "",
    )
