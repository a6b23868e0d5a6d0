"""Settings from the environment: defaults, and every problem reported at once by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.config import SettingsError, from_env
from mailer.config.values import parse_rate_limits
from mailer.runtime.pacing import RateLimit

ZOHO = {
    "ZOHO_CLIENT_ID": "1000.ID",
    "ZOHO_CLIENT_SECRET": "secret",
    "ZOHO_REFRESH_TOKEN": "1000.refresh",
    "MAILER_API_KEYS": "k1, k2",
}


def test_no_zoho_settings_means_the_dry_run_with_the_contract_defaults() -> None:
    settings = from_env({})
    assert settings.transport == "outbox"
    assert settings.db == "instance/mailer.sqlite3"
    assert settings.outbox_dir == "instance/outbox"
    assert settings.zoho_accounts_url == "https://accounts.zoho.com"
    assert settings.zoho_api_domain == "https://mail.zoho.com"
    assert settings.zoho_redirect_uri == "http://localhost:8000/api/email/callback"
    assert (
        settings.refresh_lead_seconds,
        settings.refresh_retry_seconds,
        settings.refresh_buffer_seconds,
    ) == (600, 60, 300)
    assert settings.rate_limits == (RateLimit(30, 60),)
    assert settings.max_request_mb == 25


def test_a_client_id_selects_zoho() -> None:
    settings = from_env(ZOHO)
    assert settings.transport == "zoho"
    assert settings.api_keys == ("k1", "k2")


def test_every_problem_is_reported_at_once_by_name() -> None:
    env = {
        "ZOHO_CLIENT_ID": "1000.ID",
        "ZOHO_ACCOUNTS_URL": "ftp://accounts.zoho.com",
        "ZOHO_API_DOMAIN": "http://mail.zoho.com",
        "ZOHO_REFRESH_LEAD_SECONDS": "soon",
        "ZOHO_REFRESH_RETRY_SECONDS": "0",
        "ZOHO_RATE_LIMITS": "30/fortnight",
        "ZOHO_ACCOUNT_ID": "me@example.com",
        "MAILER_MAX_REQUEST_MB": "-1",
    }
    with pytest.raises(SettingsError) as raised:
        from_env(env)
    named = " ".join(raised.value.problems)
    for name in (
        "ZOHO_ACCOUNTS_URL",
        "ZOHO_API_DOMAIN",
        "ZOHO_REFRESH_LEAD_SECONDS",
        "ZOHO_REFRESH_RETRY_SECONDS",
        "ZOHO_RATE_LIMITS",
        "ZOHO_ACCOUNT_ID",
        "MAILER_MAX_REQUEST_MB",
        "ZOHO_CLIENT_SECRET",
        "MAILER_API_KEYS",
        "ZOHO_REFRESH_TOKEN or MAILER_ADMIN_KEY",
    ):
        assert name in named
    assert len(raised.value.problems) == 10


def test_the_zoho_transport_refuses_to_start_without_api_keys() -> None:
    with pytest.raises(SettingsError) as raised:
        from_env({**ZOHO, "MAILER_API_KEYS": ""})
    assert raised.value.problems == [p for p in raised.value.problems if "MAILER_API_KEYS" in p]


def test_smtp_ingress_is_off_by_default_and_its_size_follows_the_request_limit() -> None:
    off = from_env({})
    assert off.smtp_port is None and off.smtp_host == "127.0.0.1"
    on = from_env({"MAILER_SMTP_PORT": "2525", "MAILER_MAX_REQUEST_MB": "10"})
    assert (on.smtp_port, on.smtp_max_mb) == (2525, 10)
    assert from_env({"MAILER_SMTP_MAX_MB": "3"}).smtp_max_mb == 3


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MAILER_SMTP_PORT": "70000"}, "MAILER_SMTP_PORT"),
        ({"MAILER_SMTP_PORT": "smtp"}, "MAILER_SMTP_PORT"),
        ({"MAILER_SMTP_TLS_CERT": "/etc/hostname"}, "set both, or neither"),
        (
            {"MAILER_SMTP_TLS_CERT": "/nonexistent.pem", "MAILER_SMTP_TLS_KEY": "/nonexistent.key"},
            "MAILER_SMTP_TLS_KEY: /nonexistent.key is not a readable file",
        ),
    ],
)
def test_bad_smtp_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        from_env(env)
    assert any(named in problem for problem in raised.value.problems), raised.value.problems


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(SettingsError, match="MAILER_TRANSPORT"):
        from_env({"MAILER_TRANSPORT": "smtp"})


def test_loopback_http_is_allowed_for_test_servers() -> None:
    settings = from_env(
        {
            **ZOHO,
            "ZOHO_ACCOUNTS_URL": "http://127.0.0.1:9/",
            "ZOHO_API_DOMAIN": "http://localhost:9",
        }
    )
    assert settings.zoho_accounts_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("off", ()),
        ("30/minute", (RateLimit(30, 60),)),
        ("20/minute;400/hour", (RateLimit(20, 60), RateLimit(400, 3600))),
        (" 5/second ", (RateLimit(5, 1),)),
        ("30/minute;450/day", (RateLimit(30, 60), RateLimit(450, 86400))),
    ],
)
def test_rate_limits(text: str, limits: tuple[RateLimit, ...]) -> None:
    assert parse_rate_limits(text) == limits


@pytest.mark.parametrize("text", ["", "0/minute", "x/minute", "30", "30/week", "30/minute;"])
def test_bad_rate_limits(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_rate_limits(text)


def test_secrets_are_listed_for_redaction_checks() -> None:
    settings = from_env({**ZOHO, "MAILER_ADMIN_KEY": "adm"})
    assert set(settings.secrets) == {"secret", "1000.refresh", "adm", "k1", "k2"}


def test_every_variable_the_gateway_reads_is_in_env_example() -> None:
    """A user copies .env.example: each setting read by from_env is there, with a comment."""
    root = Path(__file__).resolve().parent.parent
    source = (root / "mailer" / "config" / "environment.py").read_text()
    read = set(re.findall(r'read\.\w+\("([A-Z_]+)"', source))
    example = (root / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read and read <= listed, sorted(read - listed)
