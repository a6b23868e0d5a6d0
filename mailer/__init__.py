"""The Zoho Mail HTTP gateway. ``create_app`` is the composition root: it reads no environment
and starts no thread; ``start_background`` starts a worker's timed work."""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path
from typing import Any

from flask import Flask

from mailer import api
from mailer.clock import Clock, SystemClock
from mailer.consent import ConsentFlow
from mailer.delivery import ZohoTransport
from mailer.gateway import Gateway
from mailer.locks import NamedLocks
from mailer.outbox import OutboxTransport
from mailer.receipts import Transport
from mailer.scheduler import start_scheduler
from mailer.sending import SendService
from mailer.settings import Settings
from mailer.spool import DeliveryPolicy, Spool
from mailer.store import Store
from mailer.tokens import RenewalPolicy, TokenService
from mailer.zoho_accounts import ZohoAccounts
from mailer.zoho_http import ZohoSession
from mailer.zoho_mail import ZohoMail

__all__ = ["Settings", "create_app", "start_background"]

log = logging.getLogger(__name__)

# A lock holder makes at most one Zoho call; give it that call's timeout and some slack.
LOCK_SLACK_SECONDS = 5.0


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    session: ZohoSession | None = None,
    rng: random.Random | None = None,
) -> Flask:
    """Wire the gateway for ``settings``; tests hand in a fake clock, their own store or session."""
    clock = clock or SystemClock()
    store = store or Store(settings.db_path)
    gateway = (
        _zoho_gateway(settings, clock, store, session, rng)
        if settings.transport == "zoho"
        else _outbox_gateway(settings, clock, store, rng)
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mailer"] = gateway
    api.register(app)
    return app


def _gateway(
    settings: Settings,
    clock: Clock,
    store: Store,
    transport: Transport,
    rng: random.Random | None,
    **parts: Any,
) -> Gateway:
    """The parts every transport shares: the spool and the send service around it."""
    policy = DeliveryPolicy(
        max_attempts=settings.max_attempts,
        retry_seconds=settings.retry_seconds,
        max_age_seconds=settings.max_age_hours * 3600,
        # An attempt makes at most four Zoho calls (lookup, renewal, upload, send).
        lease_seconds=4 * settings.zoho_timeout_seconds + 5,
        retention_seconds=settings.retention_days * 86400,
    )
    spool = Spool(
        connection_id=settings.connection_id,
        store=store,
        transport=transport,
        clock=clock,
        policy=policy,
        limits=settings.rate_limits if settings.transport == "zoho" else (),
        rng=rng,
    )
    sending = SendService(transport=transport, spool=spool, store=store, clock=clock)
    return Gateway(
        settings=settings, store=store, transport=transport, sending=sending, spool=spool, **parts
    )


def _outbox_gateway(
    settings: Settings, clock: Clock, store: Store, rng: random.Random | None
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
    transport = OutboxTransport(outbox, clock, settings.zoho_from_address)
    return _gateway(settings, clock, store, transport, rng)


def _zoho_gateway(
    settings: Settings,
    clock: Clock,
    store: Store,
    session: ZohoSession | None,
    rng: random.Random | None,
) -> Gateway:
    assert settings.zoho_client_id is not None
    assert settings.zoho_client_secret is not None
    session = session or ZohoSession(settings.zoho_timeout_seconds)
    locks = NamedLocks(
        store.path.parent, store.path.name, settings.zoho_timeout_seconds + LOCK_SLACK_SECONDS
    )
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
        store=store, accounts=accounts, locks=locks, clock=clock, policy=policy, rng=rng
    )
    _seed_from_settings(settings, store, clock)
    transport = ZohoTransport(
        connection_id=settings.connection_id,
        store=store,
        tokens=tokens,
        mail=mail,
        locks=locks,
        clock=clock,
        account_id=settings.zoho_account_id,
        default_sender=settings.zoho_from_address,
    )
    consent = ConsentFlow(
        connection_id=settings.connection_id,
        accounts_url=settings.zoho_accounts_url,
        api_domain=settings.zoho_api_domain,
        account_id=settings.zoho_account_id,
        from_address=settings.zoho_from_address,
        store=store,
        accounts=accounts,
        mail=mail,
        clock=clock,
        policy=policy,
    )
    log.info("gateway started: transport=zoho, state in %s", store.path)
    return _gateway(settings, clock, store, transport, rng, tokens=tokens, consent=consent)


def _seed_from_settings(settings: Settings, store: Store, clock: Clock) -> None:
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
    if store.seed_connection(
        settings.connection_id,
        refresh_token=settings.zoho_refresh_token,
        fingerprint=hashlib.sha256(seed.encode()).hexdigest(),
        accounts_url=settings.zoho_accounts_url,
        mail_api_url=settings.zoho_api_domain,
        account_id=settings.zoho_account_id,
        now=clock.now(),
    ):
        log.info("applied ZOHO_REFRESH_TOKEN from the environment (it changed since last start)")


def start_background(app: Flask) -> Any:
    """Start this worker's timed work (token renewal); returns the scheduler, to shut it down."""
    gateway: Gateway = app.extensions["mailer"]
    return start_scheduler(
        startup=gateway.startup,
        tick=gateway.tick,
        deliver=gateway.deliver,
        housekeeping=gateway.housekeeping,
    )
