"""Revoking a refresh token at Zoho: Zoho keeps at most 20 per user and OAuth client and
silently deletes the oldest when a 21st is made, which may be another mailbox's connection."""

from __future__ import annotations

import logging
from typing import Protocol

from mailer.mailboxes.tokens import fingerprint
from mailer.zoho.accounts import TokenEndpointError

log = logging.getLogger(__name__)


class Revoker(Protocol):
    def revoke(self, accounts_url: str, refresh_token: str) -> None: ...


def revoke_refresh_token(
    accounts: Revoker, accounts_url: str, refresh_token: str, *, mailbox: str, which: str
) -> bool:
    """Revoke ``refresh_token`` (``which`` says which of the mailbox's it is, for the log);
    a failure is logged with what to do by hand, never raised."""
    try:
        accounts.revoke(accounts_url, refresh_token)
    except TokenEndpointError as exc:
        log.warning(
            "mailbox %s: could not revoke %s %s at Zoho (%s); remove it under Connected Apps "
            "in Zoho's account settings",
            mailbox,
            which,
            fingerprint(refresh_token),
            exc.reason,
        )
        return False
    log.info("mailbox %s: revoked %s %s", mailbox, which, fingerprint(refresh_token))
    return True
