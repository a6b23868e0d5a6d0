"""The Zoho Mail HTTP gateway. ``create_app`` is the composition root: it reads no environment,
starts no thread and writes nothing. The start-up path calls ``prepare_state`` (schema
migrations, the environment's refresh token) once the port is bound, and ``start_background``
in each serving process."""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path
from typing import Any

from flask import Flask

from mailer import api, cli
from mailer.api import answers
from mailer.clock import Clock, SystemClock
from mailer.consent import ConsentFlow
from mailer.delivery_policy import DeliveryPolicy
from mailer.gateway import Gateway
from mailer.outbox import Outbox
from mailer.scheduler import start_scheduler
from mailer.send_requests import Renderers, SendService
from mailer.settings import Settings
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from mailer.tokens import RenewalPolicy, TokenService
from mailer.transports import Transport
from mailer.transports.dry_run import DryRunTransport
from mailer.transports.zoho import ZohoTransport, mail_api_source
from mailer.zoho.accounts import ZohoAccounts, mail_host_for, normalise_server
from mailer.zoho.http import ZohoSession
from mailer.zoho.mail import ZohoMail

__all__ = ["Settings", "create_app", "prepare_state", "start_background"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    storage: Storage | None = None,
    session: ZohoSession | None = None,
    rng: random.Random | None = None,
) -> Flask:
    """Wire the gateway for ``settings``; tests hand in a fake clock, their storage or session."""
    clock = clock or SystemClock()
    storage = storage or open_storage(settings.db, timeout_seconds=settings.db_timeout_seconds)
    gateway = (
        _zoho_gateway(settings, clock, storage, session, rng)
        if settings.transport == "zoho"
        else _dry_run_gateway(settings, clock, storage, rng)
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mailer"] = gateway
    api.register(app)
    app.cli.add_command(cli.mailer)
    return app


def _gateway(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    transport: Transport,
    rng: random.Random | None,
    **parts: Any,
) -> Gateway:
    """The parts every transport shares: the outbox and the send service around it."""
    policy = DeliveryPolicy(
        max_attempts=settings.max_attempts,
        retry_seconds=settings.retry_seconds,
        max_age_seconds=settings.max_age_hours * 3600,
        lease_seconds=settings.delivery_lease_seconds,
    )
    outbox = Outbox(
        mailbox=settings.mailbox,
        messages=storage.messages,
        ledger=storage.ledger,
        transport=transport,
        clock=clock,
        policy=policy,
        limits=settings.rate_limits if settings.transport == "zoho" else (),
        rng=rng,
    )
    sending = SendService(
        transport=transport,
        outbox=outbox,
        idempotency=storage.idempotency,
        clock=clock,
        render=Renderers(accepted=answers.accepted, replayed=answers.replayed),
    )
    return Gateway(
        settings=settings,
        clock=clock,
        storage=storage,
        transport=transport,
        sending=sending,
        outbox=outbox,
        **parts,
    )


def _dry_run_gateway(
    settings: Settings, clock: Clock, storage: Storage, rng: random.Random | None
) -> Gateway:
    outbox = Path(settings.outbox_dir)
    log.warning(
        "DRY RUN: no ZOHO_CLIENT_ID is set, so nothing is sent; every message is written to %s/ "
        "as an .eml file%s",
        outbox,
        "; sends need no API key (set MAILER_API_KEYS to require one)"
        if not settings.api_keys
        else "",
    )
    transport = DryRunTransport(outbox, clock, settings.zoho_from_address)
    return _gateway(settings, clock, storage, transport, rng)


def _zoho_gateway(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    session: ZohoSession | None,
    rng: random.Random | None,
) -> Gateway:
    assert settings.zoho_client_id is not None
    assert settings.zoho_client_secret is not None
    session = session or ZohoSession(settings.zoho_timeout_seconds)
    accounts = ZohoAccounts(
        client_id=settings.zoho_client_id,
        client_secret=settings.zoho_client_secret,
        redirect_uri=settings.zoho_redirect_uri,
        session=session,
    )
    mail = ZohoMail(session)
    policy = RenewalPolicy(
        lead_seconds=settings.refresh_lead_seconds,
        buffer_seconds=settings.refresh_buffer_seconds,
        retry_seconds=settings.refresh_retry_seconds,
    )
    tokens = TokenService(
        mailboxes=storage.mailboxes,
        accounts=accounts,
        locks=storage.locks,
        clock=clock,
        policy=policy,
        rng=rng,
    )
    transport = ZohoTransport(
        mailbox=settings.mailbox,
        mailboxes=storage.mailboxes,
        tokens=tokens,
        mail=mail,
        locks=storage.locks,
        clock=clock,
        account_id=settings.zoho_account_id,
        default_sender=settings.zoho_from_address,
        api_domain=settings.zoho_api_domain,
    )
    consent = ConsentFlow(
        mailbox=settings.mailbox,
        redirect_uri=settings.zoho_redirect_uri,
        accounts_url=settings.zoho_accounts_url,
        api_domain=settings.zoho_api_domain,
        account_id=settings.zoho_account_id,
        from_address=settings.zoho_from_address,
        mailboxes=storage.mailboxes,
        oauth_states=storage.oauth_states,
        accounts=accounts,
        mail=mail,
        clock=clock,
        policy=policy,
    )
    return _gateway(settings, clock, storage, transport, rng, tokens=tokens, consent=consent)


def prepare_state(app: Flask) -> None:
    """The start-up path, once per host: migrate the schema, apply ZOHO_REFRESH_TOKEN."""
    gateway: Gateway = app.extensions["mailer"]
    gateway.storage.migrate()  # logs what it applied
    if gateway.settings.transport == "zoho":
        _warn_about_data_centre(gateway.settings)
        _seed_from_settings(gateway.settings, gateway.storage, gateway.clock)
        _say_which_mail_host(gateway.settings, gateway.storage)
    log.info(
        "gateway started: transport=%s, state in %s",
        gateway.settings.transport,
        gateway.storage.describe(),
    )


def _warn_about_data_centre(settings: Settings) -> None:
    """ZOHO_API_DOMAIN of another data centre than ZOHO_ACCOUNTS_URL fails at the first send."""
    expected = mail_host_for(settings.zoho_accounts_url)
    if expected is not None and normalise_server(settings.zoho_api_domain) != expected:
        log.warning(
            "ZOHO_API_DOMAIN is %s, but the accounts server in ZOHO_ACCOUNTS_URL (%s) serves "
            "Zoho Mail at %s: check both name the same data centre",
            settings.zoho_api_domain,
            settings.zoho_accounts_url,
            expected,
        )


def _say_which_mail_host(settings: Settings, storage: Storage) -> None:
    """A connection made in the browser keeps its data centre over a changed ZOHO_API_DOMAIN."""
    stored = storage.mailboxes.get(settings.mailbox)
    if stored is not None and stored.mail_api_url != settings.zoho_api_domain:
        log.warning(
            "Zoho Mail host in force: %s, from %s",
            stored.mail_api_url,
            mail_api_source(stored.mail_api_url, settings.zoho_api_domain),
        )


def _seed_from_settings(settings: Settings, storage: Storage, clock: Clock) -> None:
    """Apply ZOHO_REFRESH_TOKEN when it (or where it points) changed since it was last applied."""
    if settings.zoho_refresh_token is None:
        return
    seed = "\n".join(
        (
            settings.zoho_refresh_token,
            settings.zoho_accounts_url,
            settings.zoho_api_domain,
            settings.zoho_account_id or "",
        )
    )
    if storage.mailboxes.seed(
        settings.mailbox,
        refresh_token=settings.zoho_refresh_token,
        fingerprint=hashlib.sha256(seed.encode()).hexdigest(),
        accounts_url=settings.zoho_accounts_url,
        mail_api_url=settings.zoho_api_domain,
        account_id=settings.zoho_account_id,
        now=clock.now(),
    ):
        log.info("applied ZOHO_REFRESH_TOKEN from the environment (it changed since last start)")


def start_background(app: Flask, *, threads: int = 16) -> Any:
    """Start a serving process's timed work (renewal, delivery); returns the scheduler.

    ``threads`` is the process's request threads, which its state connections are sized to.
    """
    gateway: Gateway = app.extensions["mailer"]
    gateway.storage.size_pool(threads)
    return start_scheduler(
        startup=gateway.startup,
        tick=gateway.tick,
        deliver=gateway.deliver,
        housekeeping=gateway.housekeeping,
    )
