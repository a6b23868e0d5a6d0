"""Whether a Zoho mailbox can send now, and why not: what ``GET /api/email/status`` says of it,
read from its stored row (never a token)."""

from __future__ import annotations

from typing import Any

from mailer.mailboxes.tokens import CONNECT_HINT, REAUTH_HINT
from mailer.runtime.clock import utc_iso
from mailer.storage.records import Mailbox
from mailer.transports import Readiness


def readiness_of(connection: Mailbox | None, *, now: float, api_domain: str) -> Readiness:
    details: dict[str, Any] = {"transport": "zoho", "dry_run": False}
    if connection is None or connection.refresh_token is None:
        return Readiness(False, f"no Zoho mailbox is connected yet: {CONNECT_HINT}", details)
    details.update(
        {
            "mailbox": connection.primary_address,
            "account_id": connection.account_id,
            "send_as": list(connection.send_as),
            "accounts_server": connection.accounts_url,
            "mail_api": connection.mail_api_url,
            "mail_api_source": mail_api_source(connection.mail_api_url, api_domain),
            "token_expires_at": utc_iso(connection.access_expires_at),
            "next_renewal_at": utc_iso(connection.next_renewal_at),
            "last_renewal": {
                "outcome": connection.last_renewal_outcome,
                "at": utc_iso(connection.last_renewal_at),
            },
        }
    )
    if connection.needs_reauth:
        return Readiness(
            False,
            f"Zoho no longer accepts the stored refresh token "
            f"({connection.last_renewal_outcome}): {REAUTH_HINT}",
            details,
        )
    if connection.seconds_left(now) > 0:
        return Readiness(True, "connected; a valid access token is held", details)
    if connection.renewal_failures == 0 or connection.renewal_due(now):
        return Readiness(True, "connected; a token will be renewed on the next send", details)
    return Readiness(
        False,
        f"Zoho's token endpoint is failing ({connection.last_renewal_outcome}); "
        f"next try at {utc_iso(connection.next_renewal_at)}",
        details,
    )


def mail_api_source(in_force: str, configured: str) -> str:
    """Why the Zoho Mail host in force is the one it is."""
    if in_force == configured:
        return "ZOHO_API_DOMAIN"
    return (
        f"the stored connection (its data centre); ZOHO_API_DOMAIN ({configured}) applies "
        "when ZOHO_REFRESH_TOKEN changes"
    )
