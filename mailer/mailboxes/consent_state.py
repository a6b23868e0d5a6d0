"""The consent flow's single-use state: issued to one browser, taken once by its callback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import SplitResult

from mailer.runtime.digests import digest
from mailer.runtime.errors import Forbidden, InvalidRequest
from mailer.storage.ports import OAuthStateStore
from mailer.storage.records import OAuthState

log = logging.getLogger(__name__)

START_AGAIN = "start again at /api/email/auth"


@dataclass(frozen=True)
class AlreadyConnected:
    """A finished flow's success page, reloaded: the mailbox, never the token again."""

    address: str


def take_state(
    oauth_states: OAuthStateStore,
    now: float,
    redirect: SplitResult,
    state: str | None,
    browser_nonce: str | None,
    host: str,
) -> AlreadyConnected | OAuthState:
    """Take the state for this flow; when it was used and connected already (the success
    page reloaded), say which mailbox instead."""
    if not state:
        raise InvalidRequest(f"the callback has no state; {START_AGAIN}", code="missing_state")
    record = oauth_states.take(digest(state), digest(browser_nonce or ""), now)
    if record is None:
        raise Forbidden(
            f"this state was not issued by this gateway (forged or mistyped); {START_AGAIN}",
            code="invalid_state",
        )
    if record.used_at is not None:
        if record.connected_address is not None:
            return AlreadyConnected(record.connected_address)
        raise Forbidden(f"this state was already used; {START_AGAIN}", code="state_replayed")
    if browser_nonce is None:
        origin = f"{redirect.scheme}://{redirect.netloc}"
        log.warning(
            "a consent callback at %s came without the flow's cookie; flows must start at "
            "%s/api/email/auth, the host of ZOHO_REDIRECT_URI",
            host,
            origin,
        )
        raise Forbidden(
            f"this browser brought no cookie of the consent flow to {host}. The flow must "
            f"start and finish on the host of ZOHO_REDIRECT_URI ({redirect.netloc}) "
            f"in one browser: open {origin}/api/email/auth",
            code="state_wrong_browser",
        )
    if record.browser_hash != digest(browser_nonce):
        raise Forbidden(
            "this consent flow was started in another browser; finish it where it began, "
            f"or {START_AGAIN}",
            code="state_wrong_browser",
        )
    if now > record.expires_at:
        raise Forbidden(f"this consent flow expired; {START_AGAIN}", code="state_expired")
    return record
