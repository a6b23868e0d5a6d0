"""The access-token lifecycle: single-flight renewal and the lead / buffer / retry / back-off policy.

Every path that may renew (startup, the scheduled tick, a request that finds the token
stale, a token Zoho refused) goes through ``_renew_guarded``: take the in-process and the
cross-process lock, re-read the store, and renew only if the reason still holds. Whoever
waited on the lock then uses the token the holder stored.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailer import metrics
from mailer.clock import Clock, utc_iso
from mailer.errors import NotConnected, ReauthorizationRequired, TokenUnavailable
from mailer.storage.ports import MailboxStore, SingleFlight
from mailer.storage.records import Grant, Mailbox
from mailer.zoho.accounts import GrantRefused, Throttled, TokenEndpointError, TokenGrant

log = logging.getLogger(__name__)

REAUTH_HINT = "an admin must reconnect the mailbox at /api/email/auth"
CONNECT_HINT = "an admin connects one at /api/email/auth (or sets ZOHO_REFRESH_TOKEN)"


def fingerprint(secret: str | None) -> str:
    """The last 4 characters of a secret, enough to tell tokens apart in a log."""
    return "none" if not secret else f"…{secret[-4:]}"


def require_usable(mailbox: Mailbox | None) -> Mailbox:
    """The mailbox, if it can be used at all; else the 503 that says what to do."""
    if mailbox is None or mailbox.refresh_token is None:
        raise NotConnected(f"no Zoho mailbox is connected yet: {CONNECT_HINT}")
    if mailbox.needs_reauth:
        raise ReauthorizationRequired(
            f"Zoho no longer accepts the stored refresh token: {REAUTH_HINT}"
        )
    return mailbox


class TokenSource(Protocol):
    def refresh(self, accounts_url: str, refresh_token: str) -> TokenGrant: ...


@dataclass(frozen=True)
class RenewalPolicy:
    """When to renew: ahead of expiry, on demand, and after failures."""

    lead_seconds: float = 600
    buffer_seconds: float = 300
    retry_seconds: float = 60
    # Back-off after repeated failures never waits longer than this.
    max_backoff_seconds: float = 900
    # Zoho blocks a refresh token for the rest of a 10-minute window once throttled.
    throttle_pause_seconds: float = 600

    def next_renewal(self, now: float, lifetime_seconds: float) -> float:
        """The proactive renewal time for a token that just arrived."""
        if lifetime_seconds > self.lead_seconds:
            return now + lifetime_seconds - self.lead_seconds
        return now + lifetime_seconds / 2

    def retry_delay(self, failures: int, rng: random.Random) -> float:
        """Seconds before the next try after ``failures`` failures in a row (at least one)."""
        delay = min(self.max_backoff_seconds, self.retry_seconds * 2.0 ** (failures - 1))
        if failures > 1:
            # Jitter, so that gateways that failed together do not retry in step.
            delay = rng.uniform(delay / 2, delay)
        return delay


class TokenService:
    """Hands out valid access tokens and keeps them renewed; the only caller of ``refresh``."""

    def __init__(
        self,
        *,
        mailboxes: MailboxStore,
        accounts: TokenSource,
        locks: SingleFlight,
        clock: Clock,
        policy: RenewalPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._mailboxes = mailboxes
        self._accounts = accounts
        self._locks = locks
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()

    # Paths that may renew --------------------------------------------------------------

    def startup(self, name: str) -> None:
        """Use a stored token that is still fresh; renew at once otherwise (once for all workers)."""
        mailbox = self._mailboxes.get(name)
        if mailbox is None or mailbox.refresh_token is None:
            log.warning("no Zoho mailbox is connected yet: %s", CONNECT_HINT)
            return
        if self._stale(mailbox, self._clock.now()):
            mailbox = self._renew_guarded(name, self._wants_on_demand)
        if mailbox is not None and mailbox.seconds_left(self._clock.now()) > 0:
            # Every worker says which token it starts with, whoever renewed it.
            log.info(
                "using stored token %s, expires at %s; renewal scheduled for %s",
                fingerprint(mailbox.access_token),
                utc_iso(mailbox.access_expires_at),
                utc_iso(mailbox.next_renewal_at),
            )

    def tick(self, name: str) -> None:
        """The scheduled path: renew when the proactive time or a retry time has come."""
        mailbox = self._mailboxes.get(name)
        if mailbox is not None and mailbox.renewal_due(self._clock.now()):
            self._renew_guarded(name, lambda c, now: c.renewal_due(now))

    def access_token(self, name: str) -> str:
        """A usable access token; renews first when less than the buffer is left."""
        return self.credentials(name)[1]

    def credentials(self, name: str) -> tuple[Mailbox, str]:
        """The mailbox with a usable access token (one read of the store when fresh)."""
        mailbox = require_usable(self._mailboxes.get(name))
        now = self._clock.now()
        if self._stale(mailbox, now):
            mailbox = require_usable(self._renew_guarded(name, self._wants_on_demand))
        return mailbox, self._token_of(mailbox)

    def renew_after_rejection(self, name: str, rejected_token: str) -> str:
        """Zoho refused ``rejected_token``: renew once (single flight) and return the new one."""
        self._mailboxes.discard_access_token(name, rejected_token)

        def wants(c: Mailbox, now: float) -> bool:
            return c.access_token in (None, rejected_token) and not self._backing_off(c, now)

        mailbox = require_usable(self._renew_guarded(name, wants))
        return self._token_of(mailbox)

    # The guarded renewal ---------------------------------------------------------------

    def _renew_guarded(self, name: str, wants: Callable[[Mailbox, float], bool]) -> Mailbox | None:
        """Renew if ``wants`` still holds once both locks are held; returns the stored state."""
        mailbox = self._mailboxes.get(name)
        if mailbox is None or not wants(mailbox, self._clock.now()):
            return mailbox
        with self._locks.hold(f"token-{name}"):
            mailbox = self._mailboxes.get(name)
            if mailbox is None or not wants(mailbox, self._clock.now()):
                return mailbox
            self._renew(mailbox)
            return self._mailboxes.get(name)

    def _renew(self, mailbox: Mailbox) -> None:
        """Call Zoho once and record the outcome; the caller holds the locks."""
        assert mailbox.refresh_token is not None
        try:
            grant = self._accounts.refresh(mailbox.accounts_url, mailbox.refresh_token)
        except TokenEndpointError as exc:
            self._record_failure(mailbox, exc)
            return
        now = self._clock.now()
        expires_at = now + grant.expires_in_seconds
        next_renewal_at = self._policy.next_renewal(now, grant.expires_in_seconds)
        self._mailboxes.record_renewal(
            mailbox.name, Grant(grant.access_token, expires_at, next_renewal_at), now=now
        )
        metrics.renewal(mailbox.name, "renewed")
        log.info(
            "renewed access token %s for %s, expires at %s",
            fingerprint(grant.access_token),
            mailbox.name,
            utc_iso(expires_at),
        )
        log.info("renewal scheduled for %s", utc_iso(next_renewal_at))

    def _record_failure(self, mailbox: Mailbox, exc: TokenEndpointError) -> None:
        now = self._clock.now()
        failures = mailbox.renewal_failures + 1
        delay = self._policy.retry_delay(failures, self._rng)
        needs_reauth = isinstance(exc, GrantRefused)
        if isinstance(exc, Throttled):
            delay = max(delay, self._policy.throttle_pause_seconds)
            outcome = "throttled"
            log.warning(
                "throttled by Zoho's token endpoint; no new try before %s", utc_iso(now + delay)
            )
        elif needs_reauth:
            outcome = f"needs re-authorisation: {exc.reason}"
            if not mailbox.needs_reauth:
                log.error(
                    "Zoho no longer accepts the refresh token %s (%s): %s. Sends are refused "
                    "until then; the gateway retries with back-off in case Zoho erred.",
                    fingerprint(mailbox.refresh_token),
                    exc.reason,
                    REAUTH_HINT,
                )
            log.info("needs re-authorisation; retry in %d s", delay)
        else:
            outcome = f"failed: {exc.reason}"
            log.warning("renewal failed (%s); retry in %d s", exc.reason, delay)
        metrics.renewal(
            mailbox.name,
            "throttled" if isinstance(exc, Throttled) else "refused" if needs_reauth else "failed",
        )
        self._mailboxes.record_renewal_failure(
            mailbox.name,
            outcome=outcome,
            failures=failures,
            next_renewal_at=now + delay,
            needs_reauth=needs_reauth,
            now=now,
        )

    # Rules ------------------------------------------------------------------------------

    def _stale(self, mailbox: Mailbox, now: float) -> bool:
        return mailbox.seconds_left(now) <= self._policy.buffer_seconds

    def _backing_off(self, mailbox: Mailbox, now: float) -> bool:
        """After a failure, nobody calls Zoho again before the retry time."""
        return mailbox.renewal_failures > 0 and not mailbox.renewal_due(now)

    def _wants_on_demand(self, mailbox: Mailbox, now: float) -> bool:
        return self._stale(mailbox, now) and not self._backing_off(mailbox, now)

    def _token_of(self, mailbox: Mailbox) -> str:
        now = self._clock.now()
        if mailbox.access_token is None or mailbox.seconds_left(now) <= 0:
            retry_at = mailbox.next_renewal_at
            raise TokenUnavailable(
                "no valid Zoho access token right now "
                f"(last renewal: {mailbox.last_renewal_outcome or 'none'}); "
                f"next try at {utc_iso(retry_at)}",
                retry_after_seconds=None if retry_at is None else max(1.0, retry_at - now),
            )
        return mailbox.access_token
