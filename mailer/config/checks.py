"""What a set of settings lacks or gets wrong, one check per feature; ``from_env`` reports
every problem at once."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from mailer.config.settings import Settings
from mailer.config.values import is_fernet_key, parses_as_url, webhook_key
from mailer.runtime.destinations import private_address
from mailer.storage import is_postgres_url


def settings_problems(settings: Settings, *, db_source: str) -> list[str]:
    """Every problem of a set of settings that no single variable shows on its own."""
    problems = webhook_problems(settings) + smtp_problems(settings)
    if settings.encryption_keys and not all(map(is_fernet_key, settings.encryption_keys)):
        # Never echo the value: it is the key.
        problems.append(
            "MAILER_ENCRYPTION_KEY: each comma-separated key must be a Fernet key (32 bytes, "
            "url-safe base64); generate one with `python3 -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`"
        )
    if is_postgres_url(settings.db) and not parses_as_url(settings.db):
        # Never echo the value: it may hold the database password.
        problems.append(f"{db_source}: not a valid PostgreSQL URL (host, port or quoting)")
    if settings.zoho_account_id is not None and not settings.zoho_account_id.isdigit():
        problems.append("ZOHO_ACCOUNT_ID: must be Zoho's numeric account id")
    if settings.transport == "zoho":
        problems.extend(zoho_problems(settings))
    return problems


def webhook_problems(settings: Settings) -> list[str]:
    url, secret = settings.webhook_url, settings.webhook_secret
    if url is None and secret is None:
        return []
    if url is None or secret is None:
        return ["MAILER_WEBHOOK_URL and MAILER_WEBHOOK_SECRET: set both, or neither"]
    problems = []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append("MAILER_WEBHOOK_URL: must be an absolute http(s) URL")
    elif not settings.webhook_allow_private:
        try:
            private = private_address(url)
        except OSError:
            private = None  # not resolvable now: checked again at each delivery
        if private is not None:
            problems.append(
                f"MAILER_WEBHOOK_URL: its host resolves to {private}, a loopback or private "
                "address; set MAILER_WEBHOOK_ALLOW_PRIVATE=true if that is meant"
            )
    if webhook_key(secret) is None:
        problems.append(
            "MAILER_WEBHOOK_SECRET: must be base64 of at least 16 bytes, optionally prefixed "
            "whsec_ (generate one with `python3 -c 'import base64, secrets; "
            'print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())\'`)'
        )
    return problems


def zoho_problems(settings: Settings) -> list[str]:
    """What the zoho transport needs that is missing."""
    problems = []
    if not settings.zoho_client_id:
        problems.append("ZOHO_CLIENT_ID: required by the zoho transport")
    if not settings.zoho_client_secret:
        problems.append("ZOHO_CLIENT_SECRET: required by the zoho transport")
    if not settings.api_keys:
        problems.append(
            "MAILER_API_KEYS: required by the zoho transport, so that only your apps can send "
            "from your mailbox (comma-separated; generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    if not settings.zoho_refresh_token and not settings.admin_key:
        problems.append(
            "ZOHO_REFRESH_TOKEN or MAILER_ADMIN_KEY: set the refresh token, or an admin key "
            "to connect a mailbox at /api/email/auth"
        )
    return problems


def smtp_problems(settings: Settings) -> list[str]:
    """SMTP ingress: a usable port, and TLS files given together and readable."""
    problems = []
    for name, port in (
        ("MAILER_SMTP_PORT", settings.smtp_port),
        ("MAILER_SMTPS_PORT", settings.smtps_port),
    ):
        if port is not None and not 1 <= port <= 65535:
            problems.append(f"{name}: must be a TCP port, 1 to 65535")
    if settings.smtps_port is not None and settings.smtp_tls_cert is None:
        problems.append(
            "MAILER_SMTPS_PORT: implicit TLS needs MAILER_SMTP_TLS_CERT and MAILER_SMTP_TLS_KEY"
        )
    if settings.smtps_port is not None and settings.smtps_port == settings.smtp_port:
        problems.append("MAILER_SMTPS_PORT: must differ from MAILER_SMTP_PORT")
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if (cert is None) != (key is None):
        problems.append("MAILER_SMTP_TLS_CERT and MAILER_SMTP_TLS_KEY: set both, or neither")
    for name, path in (("MAILER_SMTP_TLS_CERT", cert), ("MAILER_SMTP_TLS_KEY", key)):
        if path is not None and not os.access(path, os.R_OK):
            problems.append(f"{name}: {path} is not a readable file")
    return problems
