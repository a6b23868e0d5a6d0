"""Settings read from an environment mapping; every bad variable is reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from mailer.config.checks import settings_problems
from mailer.config.data_centres import mail_host_for
from mailer.config.settings import (
    DEFAULT_ACCOUNTS_URL,
    DEFAULT_API_DOMAIN,
    DEFAULT_REDIRECT_URI,
    Settings,
    SettingsError,
    Transport,
)
from mailer.config.values import check_base_url, db_location, parse_rate_limits
from mailer.runtime.pacing import RateLimit


class _Reader:
    """Reads variables one by one and collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, each item stripped, empty ones dropped."""
        return tuple(k.strip() for k in (self.text(name) or "").split(",") if k.strip())

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
    max_request_mb = read.integer("MAILER_MAX_REQUEST_MB", 25, minimum=1)
    accounts_url = read.url("ZOHO_ACCOUNTS_URL", DEFAULT_ACCOUNTS_URL)
    settings = Settings(
        transport=_transport(read),
        zoho_client_id=read.text("ZOHO_CLIENT_ID"),
        zoho_client_secret=read.text("ZOHO_CLIENT_SECRET"),
        zoho_redirect_uri=_redirect_uri(read),
        zoho_refresh_token=read.text("ZOHO_REFRESH_TOKEN"),
        zoho_accounts_url=accounts_url,
        # Unset: the Mail host of ZOHO_ACCOUNTS_URL's data centre.
        zoho_api_domain=read.url(
            "ZOHO_API_DOMAIN", mail_host_for(accounts_url) or DEFAULT_API_DOMAIN
        ),
        zoho_account_id=read.text("ZOHO_ACCOUNT_ID"),
        zoho_from_address=read.text("ZOHO_FROM_ADDRESS"),
        refresh_lead_seconds=read.integer("ZOHO_REFRESH_LEAD_SECONDS", 600, minimum=1),
        refresh_retry_seconds=read.integer("ZOHO_REFRESH_RETRY_SECONDS", 60, minimum=1),
        refresh_buffer_seconds=read.integer("ZOHO_REFRESH_BUFFER_SECONDS", 300, minimum=0),
        zoho_timeout_seconds=read.number("ZOHO_TIMEOUT_SECONDS", 15.0, minimum=0.1),
        rate_limits=_rate_limits(read, "ZOHO_RATE_LIMITS", "30/minute"),
        accept_limits=_rate_limits(read, "MAILER_ACCEPT_LIMITS", "600/minute;20000/day"),
        max_queued=_max_queued(read),
        repeat_limits=_rate_limits(read, "MAILER_REPEAT_LIMIT", "5/hour"),
        api_keys=read.items("MAILER_API_KEYS"),
        admin_key=read.text("MAILER_ADMIN_KEY"),
        metrics_key=read.text("MAILER_METRICS_KEY"),
        db=db_location(environ),
        db_timeout_seconds=read.number("MAILER_DB_TIMEOUT_SECONDS", 3.0, minimum=0.1),
        outbox_dir=read.text("MAILER_OUTBOX_DIR") or "instance/outbox",
        max_request_mb=max_request_mb,
        max_attempts=read.integer("MAILER_MAX_ATTEMPTS", 10, minimum=1),
        retry_seconds=read.number("MAILER_RETRY_SECONDS", 30, minimum=0.1),
        max_age_hours=read.number("MAILER_MAX_AGE_HOURS", 24, minimum=0.01),
        hold_after=read.integer("MAILER_HOLD_AFTER", 3, minimum=1),
        hold_probe_minutes=read.number("MAILER_HOLD_PROBE_MINUTES", 15, minimum=0.01),
        bounces=read.switch("MAILER_BOUNCES", False),
        bounce_poll_seconds=read.number("MAILER_BOUNCE_POLL_SECONDS", 300, minimum=10),
        retention_days=read.number("MAILER_RETENTION_DAYS", 7, minimum=0.01),
        lease_seconds=read.number("MAILER_LEASE_SECONDS", 0, minimum=1) or None,
        encryption_keys=read.items("MAILER_ENCRYPTION_KEY"),
        connect_link_hours=read.number("MAILER_CONNECT_LINK_HOURS", 72, minimum=0.01),
        metrics=read.switch("MAILER_METRICS", True),
        webhook_url=read.text("MAILER_WEBHOOK_URL"),
        webhook_secret=read.text("MAILER_WEBHOOK_SECRET"),
        webhook_allow_private=(read.text("MAILER_WEBHOOK_ALLOW_PRIVATE") or "").lower()
        in ("true", "1", "yes", "on"),
        smtp_port=read.integer("MAILER_SMTP_PORT", 0, minimum=0) or None,
        smtps_port=read.integer("MAILER_SMTPS_PORT", 0, minimum=0) or None,
        smtp_host=read.text("MAILER_SMTP_HOST") or "127.0.0.1",
        smtp_tls_cert=read.text("MAILER_SMTP_TLS_CERT"),
        smtp_tls_key=read.text("MAILER_SMTP_TLS_KEY"),
        smtp_max_mb=read.integer("MAILER_SMTP_MAX_MB", max_request_mb, minimum=1),
    )
    db_source = "MAILER_DB" if environ.get("MAILER_DB", "").strip() else "DATABASE_URL"
    problems = read.problems + settings_problems(settings, db_source=db_source)
    if problems:
        raise SettingsError(problems)
    return settings


def _transport(read: _Reader) -> Transport:
    client_id = read.text("ZOHO_CLIENT_ID")
    raw = (read.text("MAILER_TRANSPORT") or ("zoho" if client_id else "outbox")).lower()
    if raw == "zoho":
        return "zoho"
    if raw != "outbox":
        read.problems.append(f"MAILER_TRANSPORT: {raw!r} is not 'zoho' or 'outbox'")
    return "outbox"


def _redirect_uri(read: _Reader) -> str:
    redirect_uri = read.text("ZOHO_REDIRECT_URI") or DEFAULT_REDIRECT_URI
    redirect = urlsplit(redirect_uri)
    if redirect.scheme not in ("http", "https") or not redirect.hostname:
        read.problems.append("ZOHO_REDIRECT_URI: must be an absolute http(s) URL")
    return redirect_uri


def _rate_limits(read: _Reader, name: str, default: str) -> tuple[RateLimit, ...]:
    try:
        return parse_rate_limits(read.text(name) or default)
    except ValueError as exc:
        read.problems.append(f"{name}: {exc}")
        return ()


def _max_queued(read: _Reader) -> int | None:
    if (read.text("MAILER_MAX_QUEUED") or "").lower() == "off":
        return None
    return read.integer("MAILER_MAX_QUEUED", 10000, minimum=1)
