"""The composition of the services: each mailbox's transport and outbox, the token service, the
renewal sweep, the admin, the consent flow; ``create_app`` calls ``wire``."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from mailer.api import answers
from mailer.composition.gateway import Gateway
from mailer.composition.parts import MailboxParts, PartsByMailbox
from mailer.config.settings import Settings
from mailer.events.webhooks import Webhooks
from mailer.mailboxes.admin import MailboxAdmin
from mailer.mailboxes.api_keys import KeyRing
from mailer.mailboxes.consent import ConsentFlow
from mailer.mailboxes.renewal_sweep import RenewalSweep
from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.clock import Clock
from mailer.runtime.fanout import Fanout
from mailer.sending.delivery_policy import DeliveryPolicy
from mailer.sending.outbox import Outbox
from mailer.sending.queue import QueueAdmin
from mailer.sending.service import Renderers, SendService
from mailer.storage.ports import Storage
from mailer.transports import Transport
from mailer.transports.dry_run import DryRunTransport
from mailer.transports.zoho import ZohoTransport
from mailer.zoho.accounts import ZohoAccounts
from mailer.zoho.http import ZohoSession
from mailer.zoho.mail import ZohoMail

log = logging.getLogger(__name__)

# Renewals and deliveries run a few at a time per process, so that one slow mailbox (its token
# endpoint or Mail API hanging until the timeout) holds one thread and no other mailbox waits.
RENEWAL_THREADS = 4
DELIVERY_THREADS = 4


def wire(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    session: ZohoSession | None,
    rng: random.Random | None,
    inline: bool,
) -> Gateway:
    """The services, and each mailbox's transport and outbox as it is first used."""
    zoho = _zoho_clients(settings, session) if settings.transport == "zoho" else None
    webhooks = Webhooks(settings=settings, queue=storage.webhooks, clock=clock)
    policy = RenewalPolicy(
        lead_seconds=settings.refresh_lead_seconds,
        buffer_seconds=settings.refresh_buffer_seconds,
        retry_seconds=settings.refresh_retry_seconds,
    )
    tokens = (
        TokenService(
            mailboxes=storage.mailboxes,
            accounts=zoho[0],
            locks=storage.locks,
            clock=clock,
            policy=policy,
            rng=rng,
            events=webhooks.event,
        )
        if zoho is not None
        else None
    )
    if zoho is None:
        _announce_dry_run(settings)
    dry_run = DryRunTransport(Path(settings.outbox_dir), clock, settings.zoho_from_address)
    delivery = DeliveryPolicy(
        max_attempts=settings.max_attempts,
        retry_seconds=settings.retry_seconds,
        max_age_seconds=settings.max_age_hours * 3600,
        lease_seconds=settings.delivery_lease_seconds,
    )

    def build(name: str) -> MailboxParts:
        transport: Transport = dry_run
        if zoho is not None and tokens is not None:
            own = name == settings.mailbox
            stored = None if own else storage.mailboxes.get(name)
            transport = ZohoTransport(
                mailbox=name,
                mailboxes=storage.mailboxes,
                tokens=tokens,
                mail=zoho[1],
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
        outbox = Outbox(
            mailbox=name,
            messages=storage.messages,
            ledger=storage.ledger,
            transport=transport,
            clock=clock,
            policy=delivery,
            limits=settings.rate_limits if zoho is not None else (),
            rng=rng,
            events=webhooks.event,
        )
        return MailboxParts(transport, outbox)

    parts = PartsByMailbox(build)
    keys = KeyRing(
        env_keys=settings.api_keys,
        store=storage.api_keys,
        clock=clock,
        env_mailbox=settings.mailbox,
    )
    sending = SendService(
        parts=parts,
        idempotency=storage.idempotency,
        clock=clock,
        render=Renderers(accepted=answers.accepted, replayed=answers.replayed),
        env_mailbox=settings.mailbox,
    )
    admin = MailboxAdmin(
        settings=settings,
        storage=storage,
        clock=clock,
        keys=keys,
        parts=parts,
        tokens=tokens,
        accounts=zoho[0] if zoho else None,
        events=webhooks.event,
    )
    renewals = Fanout("renewal", threads=RENEWAL_THREADS, inline=inline)
    sweep = (
        RenewalSweep(
            mailboxes=storage.mailboxes,
            tokens=tokens,
            clock=clock,
            fanout=renewals,
            claim_seconds=settings.delivery_lease_seconds,
            steady=settings.mailbox,
            after_renewal=lambda name: parts(name).transport.look_up_account(),
        )
        if tokens is not None
        else None
    )
    consent = (
        ConsentFlow(
            mailbox=settings.mailbox,
            redirect_uri=settings.zoho_redirect_uri,
            accounts_url=settings.zoho_accounts_url,
            api_domain=settings.zoho_api_domain,
            account_id=settings.zoho_account_id,
            from_address=settings.zoho_from_address,
            mailboxes=storage.mailboxes,
            oauth_states=storage.oauth_states,
            accounts=zoho[0],
            mail=zoho[1],
            clock=clock,
            policy=policy,
            events=webhooks.event,
        )
        if zoho is not None
        else None
    )
    return Gateway(
        settings=settings,
        clock=clock,
        storage=storage,
        parts=parts,
        sending=sending,
        keys=keys,
        admin=admin,
        queue=QueueAdmin(messages=storage.messages, clock=clock),
        deliveries=Fanout("delivery", threads=DELIVERY_THREADS, inline=inline),
        renewals=renewals,
        webhooks=webhooks,
        tokens=tokens,
        sweep=sweep,
        consent=consent,
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


def _zoho_clients(settings: Settings, session: ZohoSession | None) -> tuple[ZohoAccounts, ZohoMail]:
    assert settings.zoho_client_id is not None
    assert settings.zoho_client_secret is not None
    session = session or ZohoSession(settings.zoho_timeout_seconds)
    accounts = ZohoAccounts(
        client_id=settings.zoho_client_id,
        client_secret=settings.zoho_client_secret,
        redirect_uri=settings.zoho_redirect_uri,
        session=session,
    )
    return accounts, ZohoMail(session)
