"""Frozen settings read from an environment mapping; every bad variable is reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from mailer.config.checks import smtp_problems, webhook_problems, zoho_problems
from mailer.config.values import (
    DEFAULT_DB,
    RateLimit,
    check_base_url,
    db_location,
    db_password,
    is_fernet_key,
    is_postgres_url,
    parse_rate_limits,
    parses_as_url,
    webhook_key,
)

__all__ = [
    "DEFAULT_DB",
    "RateLimit",
    "Settings",
    "SettingsError",
    "check_base_url",
    "db_location",
    "db_password",
    "from_env",
    "is_postgres_url",
    "parse_rate_limits",
    "webhook_key",
]

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
    # SMTP ingress (smtp.py): off while no port is set.
    smtp_port: int | None = None
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


class _Reader:
    """Reads variables one by one and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}: {raw!r} is not a whole number")
            return default
        if value < minimum:
            self.problems.append(f"{name}: must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}: {raw!r} is not a number")
            return default
        if not value >= minimum:
            self.problems.append(f"{name}: must be at least {minimum}, got {raw}")
        return value

    def switch(self, name: str, default: bool) -> bool:
        value = (self.text(name) or "").lower()
        if not value:
            return default
        if value not in ("on", "off"):
            self.problems.append(f"{name}: must be on or off, not {value[:20]!r}")
            return default
        return value == "on"

    def url(self, name: str, default: str) -> str:
        value = (self.text(name) or default).rstrip("/")
        problem = check_base_url(value)
        if problem:
            self.problems.append(f"{name}: {problem}")
        return value


def from_env(environ: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables; raises SettingsError listing every problem."""
    read = _Reader(environ)
    client_id = read.text("ZOHO_CLIENT_ID")
    transport_raw = (read.text("MAILER_TRANSPORT") or ("zoho" if client_id else "outbox")).lower()
    transport: Transport = "outbox"
    if transport_raw == "zoho":
        transport = "zoho"
    elif transport_raw != "outbox":
        read.problems.append(f"MAILER_TRANSPORT: {transport_raw!r} is not 'zoho' or 'outbox'")

    redirect_uri = read.text("ZOHO_REDIRECT_URI") or DEFAULT_REDIRECT_URI
    redirect = urlsplit(redirect_uri)
    if redirect.scheme not in ("http", "https") or not redirect.hostname:
        read.problems.append("ZOHO_REDIRECT_URI: must be an absolute http(s) URL")

    rate_text = read.text("ZOHO_RATE_LIMITS") or "30/minute"
    try:
        rate_limits = parse_rate_limits(rate_text)
    except ValueError as exc:
        read.problems.append(f"ZOHO_RATE_LIMITS: {exc}")
        rate_limits = ()

    api_keys = tuple(
        k.strip() for k in (read.text("MAILER_API_KEYS") or "").split(",") if k.strip()
    )
    max_request_mb = read.integer("MAILER_MAX_REQUEST_MB", 25, minimum=1)
    settings = Settings(
        transport=transport,
        zoho_client_id=client_id,
        zoho_client_secret=read.text("ZOHO_CLIENT_SECRET"),
        zoho_redirect_uri=redirect_uri,
        zoho_refresh_token=read.text("ZOHO_REFRESH_TOKEN"),
        zoho_accounts_url=read.url("ZOHO_ACCOUNTS_URL", DEFAULT_ACCOUNTS_URL),
        zoho_api_domain=read.url("ZOHO_API_DOMAIN", DEFAULT_API_DOMAIN),
        zoho_account_id=read.text("ZOHO_ACCOUNT_ID"),
        zoho_from_address=read.text("ZOHO_FROM_ADDRESS"),
        refresh_lead_seconds=read.integer("ZOHO_REFRESH_LEAD_SECONDS", 600, minimum=1),
        refresh_retry_seconds=read.integer("ZOHO_REFRESH_RETRY_SECONDS", 60, minimum=1),
        refresh_buffer_seconds=read.integer("ZOHO_REFRESH_BUFFER_SECONDS", 300, minimum=0),
        zoho_timeout_seconds=read.number("ZOHO_TIMEOUT_SECONDS", 15.0, minimum=0.1),
        rate_limits=rate_limits,
        api_keys=api_keys,
        admin_key=read.text("MAILER_ADMIN_KEY"),
        metrics_key=read.text("MAILER_METRICS_KEY"),
        db=db_location(environ),
        db_timeout_seconds=read.number("MAILER_DB_TIMEOUT_SECONDS", 3.0, minimum=0.1),
        outbox_dir=read.text("MAILER_OUTBOX_DIR") or "instance/outbox",
        max_request_mb=max_request_mb,
        max_attempts=read.integer("MAILER_MAX_ATTEMPTS", 10, minimum=1),
        retry_seconds=read.number("MAILER_RETRY_SECONDS", 30, minimum=0.1),
        max_age_hours=read.number("MAILER_MAX_AGE_HOURS", 24, minimum=0.01),
        retention_days=read.number("MAILER_RETENTION_DAYS", 7, minimum=0.01),
        lease_seconds=read.number("MAILER_LEASE_SECONDS", 0, minimum=1) or None,
        encryption_keys=tuple(
            k.strip() for k in (read.text("MAILER_ENCRYPTION_KEY") or "").split(",") if k.strip()
        ),
        connect_link_hours=read.number("MAILER_CONNECT_LINK_HOURS", 72, minimum=0.01),
        metrics=read.switch("MAILER_METRICS", True),
        webhook_url=read.text("MAILER_WEBHOOK_URL"),
        webhook_secret=read.text("MAILER_WEBHOOK_SECRET"),
        webhook_allow_private=(read.text("MAILER_WEBHOOK_ALLOW_PRIVATE") or "").lower()
        in ("true", "1", "yes", "on"),
        smtp_port=read.integer("MAILER_SMTP_PORT", 0, minimum=0) or None,
        smtp_host=read.text("MAILER_SMTP_HOST") or "127.0.0.1",
        smtp_tls_cert=read.text("MAILER_SMTP_TLS_CERT"),
        smtp_tls_key=read.text("MAILER_SMTP_TLS_KEY"),
        smtp_max_mb=read.integer("MAILER_SMTP_MAX_MB", max_request_mb, minimum=1),
    )
    read.problems.extend(webhook_problems(settings))
    read.problems.extend(smtp_problems(settings))
    if settings.encryption_keys and not all(map(is_fernet_key, settings.encryption_keys)):
        # Never echo the value: it is the key.
        read.problems.append(
            "MAILER_ENCRYPTION_KEY: each comma-separated key must be a Fernet key (32 bytes, "
            "url-safe base64); generate one with `python3 -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`"
        )
    if is_postgres_url(settings.db) and not parses_as_url(settings.db):
        # Never echo the value: it may hold the database password.
        source = "MAILER_DB" if environ.get("MAILER_DB", "").strip() else "DATABASE_URL"
        read.problems.append(f"{source}: not a valid PostgreSQL URL (host, port or quoting)")
    if settings.zoho_account_id is not None and not settings.zoho_account_id.isdigit():
        read.problems.append("ZOHO_ACCOUNT_ID: must be Zoho's numeric account id")
    if transport == "zoho":
        read.problems.extend(zoho_problems(settings))
    if read.problems:
        raise SettingsError(read.problems)
    return settings
