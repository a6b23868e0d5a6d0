"""The Zoho Mail HTTP gateway. ``create_app`` is the composition root: it reads no environment,
starts no thread and writes nothing. The start-up path calls ``prepare_state`` (schema
migrations, the environment's refresh token) once the port is bound, and ``start_background``
in each serving process."""

from __future__ import annotations

import hashlib
import logging
import random
from typing import Any

from flask import Flask

from mailer import api, cli, smtp
from mailer.composition.gateway import Gateway
from mailer.composition.wiring import wire
from mailer.config.settings import Settings
from mailer.runtime import metrics
from mailer.runtime.clock import Clock, SystemClock
from mailer.runtime.scheduler import start_scheduler
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from mailer.transports.zoho import mail_api_source
from mailer.zoho.accounts import mail_host_for, normalise_server
from mailer.zoho.http import ZohoSession

__all__ = ["Settings", "create_app", "prepare_state", "start_background"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    storage: Storage | None = None,
    session: ZohoSession | None = None,
    rng: random.Random | None = None,
    inline: bool = False,
) -> Flask:
    """Wire the gateway for ``settings``; tests hand in a fake clock, their storage or session,
    and ``inline=True`` to run the timed work's renewals and deliveries in the caller's thread."""
    clock = clock or SystemClock()
    storage = storage or open_storage(
        settings.db,
        timeout_seconds=settings.db_timeout_seconds,
        encryption_keys=settings.encryption_keys,
    )
    gateway = wire(settings, clock, storage, session, rng, inline)
    metrics.count(settings.metrics)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mailer"] = gateway
    api.register(app)
    app.cli.add_command(cli.mailer)
    return app


def prepare_state(app: Flask) -> None:
    """The start-up path, once per host: migrate the schema, apply ZOHO_REFRESH_TOKEN."""
    gateway: Gateway = app.extensions["mailer"]
    apply_settings(gateway)
    if gateway.settings.transport == "zoho":
        _warn_about_data_centre(gateway.settings)
        _say_which_mail_host(gateway.settings, gateway.storage)
    log.info(
        "gateway started: transport=%s, state in %s",
        gateway.settings.transport,
        gateway.storage.describe(),
    )


def apply_settings(gateway: Gateway) -> None:
    """Bring the state in line with the settings: its schema, the encryption of its tokens,
    ZOHO_REFRESH_TOKEN. The start-up path and every command line call it."""
    gateway.storage.migrate()  # logs what it applied
    sealed = gateway.storage.mailboxes.reseal()  # SealError stops the start: a wrong key
    if sealed:
        log.info("encrypted the tokens of %d mailboxes with MAILER_ENCRYPTION_KEY", sealed)
    if gateway.settings.transport == "zoho":
        _seed_from_settings(gateway.settings, gateway.storage, gateway.clock)


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
    """Start a serving process's timed work (renewal, delivery) and, with MAILER_SMTP_PORT,
    its SMTP listener; returns the scheduler.

    ``threads`` is the process's request threads, which its state connections are sized to.
    """
    gateway: Gateway = app.extensions["mailer"]
    gateway.storage.size_pool(threads + (smtp.POOL_THREADS if gateway.settings.smtp_port else 0))
    if gateway.settings.smtp_port is not None:
        gateway.on_stop.append(smtp.SMTPListener(gateway).start().stop)
    return start_scheduler(
        startup=gateway.startup,
        tick=gateway.tick,
        deliver=gateway.deliver,
        housekeeping=gateway.housekeeping,
    )
