"""Bringing the state in line with the settings at start: the schema, the encryption of the
tokens, ZOHO_REFRESH_TOKEN, and what to say about the data centre. The start-up path and every
command line call ``apply_settings``."""

from __future__ import annotations

import hashlib
import logging

from mailer.composition.gateway import Gateway
from mailer.config.data_centres import mail_host_for, normalise_server
from mailer.config.settings import Settings
from mailer.runtime.clock import Clock
from mailer.storage.ports import Storage
from mailer.transports.zoho_readiness import mail_api_source

log = logging.getLogger(__name__)


def prepare_state(gateway: Gateway) -> None:
    """The start-up path, once per host: migrate the schema, apply ZOHO_REFRESH_TOKEN."""
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
