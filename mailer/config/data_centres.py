"""Zoho's data centres: each accounts server and the Zoho Mail host that goes with it
(zoho-api.md, section 1). Plain knowledge, read by the settings and by Zoho's clients."""

from __future__ import annotations

from urllib.parse import urlsplit

# Zoho's data centres: accounts server -> Zoho Mail API host (zoho-api.md, section 1).
DATA_CENTRES: dict[str, str] = {
    "https://accounts.zoho.com": "https://mail.zoho.com",
    "https://accounts.zoho.eu": "https://mail.zoho.eu",
    "https://accounts.zoho.in": "https://mail.zoho.in",
    "https://accounts.zoho.com.au": "https://mail.zoho.com.au",
    "https://accounts.zoho.jp": "https://mail.zoho.jp",
    "https://accounts.zoho.uk": "https://mail.zoho.uk",
    "https://accounts.zohocloud.ca": "https://mail.zohocloud.ca",
    "https://accounts.zoho.sa": "https://mail.zoho.sa",
    "https://accounts.zoho.com.cn": "https://mail.zoho.com.cn",
}


def normalise_server(url: str) -> str:
    """An accounts-server URL as compared with the allow-list: scheme and host, no slash."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}{parts.path.rstrip('/')}"


def trusted_server(server: str, configured: str) -> str | None:
    """``server`` if it is the configured accounts server or one of Zoho's own; else None
    (a code or refresh token is never sent anywhere else)."""
    wanted = normalise_server(server)
    if wanted == normalise_server(configured):
        return configured
    return wanted if wanted in DATA_CENTRES else None


def mail_host_for(accounts_url: str) -> str | None:
    """The Zoho Mail API host of the data centre an accounts server belongs to."""
    return DATA_CENTRES.get(normalise_server(accounts_url))


def mail_api_for(
    accounts_url: str, *, configured_accounts_url: str, configured_api_domain: str
) -> str:
    """The Zoho Mail API host of a mailbox connected at ``accounts_url``: ZOHO_API_DOMAIN for
    the configured data centre, else its own data centre's host."""
    if normalise_server(accounts_url) == normalise_server(configured_accounts_url):
        return configured_api_domain
    return mail_host_for(accounts_url) or configured_api_domain
