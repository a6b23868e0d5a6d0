"""The settings: frozen, built by ``environment.from_env`` or directly in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mailer.config.values import DEFAULT_DB, db_password
from mailer.runtime.pacing import RateLimit
from mailer.storage import is_postgres_url

DEFAULT_ACCOUNTS_URL = "https://accounts.zoho.com"
DEFAULT_API_DOMAIN = "https://mail.zoho.com"
DEFAULT_REDIRECT_URI = "http://localhost:8000/api/email/callback"

Transport = Literal["zoho", "outbox"]


class SettingsError(Exception):
    """One or more settings are missing or invalid; ``problems`` names each by variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the gateway is configured with; built by ``from_env`` or directly in tests."""

    transport: Transport = "outbox"
    zoho_client_id: str | None = None
    zoho_client_secret: str | None = field(default=None, repr=False)
    zoho_redirect_uri: str = DEFAULT_REDIRECT_URI
    zoho_refresh_token: str | None = field(default=None, repr=False)
    zoho_accounts_url: str = DEFAULT_ACCOUNTS_URL
    zoho_api_domain: str = DEFAULT_API_DOMAIN
    zoho_account_id: str | None = None
    zoho_from_address: str | None = None
    refresh_lead_seconds: int = 600
    refresh_retry_seconds: int = 60
    refresh_buffer_seconds: int = 300
    zoho_timeout_seconds: float = 15.0
    rate_limits: tuple[RateLimit, ...] = (RateLimit(30, 60),)
    # Back-pressure per mailbox: accepts per window, messages waiting, the same message again.
    accept_limits: tuple[RateLimit, ...] = (RateLimit(600, 60), RateLimit(20000, 86400))
    max_queued: int | None = 10000
    repeat_limits: tuple[RateLimit, ...] = (RateLimit(5, 3600),)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    admin_key: str | None = field(default=None, repr=False)
    metrics_key: str | None = field(default=None, repr=False)
    # A SQLite file path, or a postgresql:// URL (which may hold a password).
    db: str = field(default=DEFAULT_DB, repr=False)
    db_timeout_seconds: float = 3.0
    outbox_dir: str = "instance/outbox"
    max_request_mb: int = 25
    max_attempts: int = 10
    retry_seconds: float = 30
    max_age_hours: float = 24
    # Answers of Zoho without a rule, in a row from different messages, that hold a mailbox;
    # and how often a held mailbox tries one message.
    hold_after: int = 3
    hold_probe_minutes: float = 15
    # Reading bounces back: the consent also asks to read the mailbox, and each mailbox's Inbox
    # is read every ``bounce_poll_seconds``.
    bounces: bool = False
    bounce_poll_seconds: float = 300
    retention_days: float = 7
    # How long a delivery attempt holds a message before another worker may take it over;
    # None: long enough for an attempt's four Zoho calls (see ``delivery_lease_seconds``).
    lease_seconds: float | None = None
    mailbox: str = "default"
    # Fernet keys: the first encrypts, every one decrypts (rotation).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    connect_link_hours: float = 72
    # Prometheus counters and GET /metrics; off: neither (for hosts that do not scrape).
    metrics: bool = True
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_allow_private: bool = False
    # SMTP ingress (mailer/smtp): off while no port is set.
    smtp_port: int | None = None
    # SMTP over implicit TLS (RFC 8314, as on port 465); needs the TLS files.
    smtps_port: int | None = None
    smtp_host: str = "127.0.0.1"
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    smtp_max_mb: int = 25

    @property
    def delivery_lease_seconds(self) -> float:
        """An attempt makes at most four Zoho calls (look-up, renewal, upload, send)."""
        if self.lease_seconds is not None:
            return self.lease_seconds
        return 4 * self.zoho_timeout_seconds + 5

    @property
    def db_engine(self) -> str:
        return "postgresql" if is_postgres_url(self.db) else "sqlite"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for log and response checks."""
        values = (
            self.zoho_client_secret,
            self.zoho_refresh_token,
            self.admin_key,
            self.metrics_key,
            *self.api_keys,
            *self.encryption_keys,
            self.webhook_secret,
            db_password(self.db),
        )
        return tuple(v for v in values if v)
