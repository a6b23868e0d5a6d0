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
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from mailer.clock import Clock, utc_iso
from mailer.errors import NotReady
from mailer.store import Connection
from mailer.zoho_accounts import (
    ReauthorizationRequired,
    Throttled,
    TokenEndpointError,
    TokenGrant,
)

log = logging.getLogger(__name__)

REAUTH_HINT = "an admin must reconnect the mailbox at /api/email/auth"


def fingerprint(secret: str | None) -> str:
    """The last 4 characters of a secret, enough to tell tokens apart in a log."""
    return "none" if not secret else f"…{secret[-4:]}"


def require_usable(connection: Connection | None) -> Connection:
    """The connection, if it can be used at all; else the 503 that says what to do."""
    if connection is None or connection.refresh_token is None:
        raise NotReady(f"no Zoho mailbox is connected: {REAUTH_HINT}", code="not_connected")
    if connection.needs_reauth:
        raise NotReady(
            f"Zoho no longer accepts the stored refresh token: {REAUTH_HINT}",
            code="reauthorization_required",
        )
    return connection


class TokenStore(Protocol):
    def connection(self, connection_id: str) -> Connection | None: ...

    def record_renewal(
        self,
        connection_id: str,
        *,
        access_token: str,
        access_expires_at: float,
        next_renewal_at: float,
        now: float,
    ) -> None: ...

    def record_renewal_failure(
        self,
        connection_id: str,
        *,
        outcome: str,
        failures: int,
        next_renewal_at: float,
        needs_reauth: bool,
        now: float,
    ) -> None: ...

    def discard_access_token(self, connection_id: str, access_token: str) -> None: ...


class TokenSource(Protocol):
    def refresh(self, accounts_url: str, refresh_token: str) -> TokenGrant: ...


class Locks(Protocol):
    def hold(self, name: str) -> AbstractContextManager[None]: ...


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
        store: TokenStore,
        accounts: TokenSource,
        locks: Locks,
        clock: Clock,
        policy: RenewalPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._locks = locks
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()

    # Paths that may renew --------------------------------------------------------------

    def startup(self, connection_id: str) -> None:
        """Use a stored token that is still fresh; renew at once otherwise (once for all workers)."""
        connection = self._store.connection(connection_id)
        if connection is None or connection.refresh_token is None:
            log.warning("no Zoho connection yet: %s", REAUTH_HINT)
            return
        if self._stale(connection, self._clock.now()):
            connection = self._renew_guarded(connection_id, self._wants_on_demand)
        if connection is not None and connection.seconds_left(self._clock.now()) > 0:
            # Every worker says which token it starts with, whoever renewed it.
            log.info(
                "using stored token %s, expires at %s; renewal scheduled for %s",
                fingerprint(connection.access_token),
                utc_iso(connection.access_expires_at),
                utc_iso(connection.next_renewal_at),
            )

    def tick(self, connection_id: str) -> None:
        """The scheduled path: renew when the proactive time or a retry time has come."""
        connection = self._store.connection(connection_id)
        if connection is not None and connection.renewal_due(self._clock.now()):
            self._renew_guarded(connection_id, lambda c, now: c.renewal_due(now))

    def access_token(self, connection_id: str) -> str:
        """A usable access token; renews first when less than the buffer is left."""
        return self.credentials(connection_id)[1]

    def credentials(self, connection_id: str) -> tuple[Connection, str]:
        """The connection with a usable access token (one read of the store when fresh)."""
        connection = require_usable(self._store.connection(connection_id))
        now = self._clock.now()
        if self._stale(connection, now):
            connection = require_usable(self._renew_guarded(connection_id, self._wants_on_demand))
        return connection, self._token_of(connection)

    def renew_after_rejection(self, connection_id: str, rejected_token: str) -> str:
        """Zoho refused ``rejected_token``: renew once (single flight) and return the new one."""
        self._store.discard_access_token(connection_id, rejected_token)

        def wants(c: Connection, now: float) -> bool:
            return c.access_token in (None, rejected_token) and not self._backing_off(c, now)

        connection = require_usable(self._renew_guarded(connection_id, wants))
        return self._token_of(connection)

    # The guarded renewal ---------------------------------------------------------------

    def _renew_guarded(
        self, connection_id: str, wants: Callable[[Connection, float], bool]
    ) -> Connection | None:
        """Renew if ``wants`` still holds once both locks are held; returns the stored state."""
        connection = self._store.connection(connection_id)
        if connection is None or not wants(connection, self._clock.now()):
            return connection
        with self._locks.hold(f"token-{connection_id}"):
            connection = self._store.connection(connection_id)
            if connection is None or not wants(connection, self._clock.now()):
                return connection
            self._renew(connection)
            return self._store.connection(connection_id)

    def _renew(self, connection: Connection) -> None:
        """Call Zoho once and record the outcome; the caller holds the locks."""
        assert connection.refresh_token is not None
        try:
            grant = self._accounts.refresh(connection.accounts_url, connection.refresh_token)
        except TokenEndpointError as exc:
            self._record_failure(connection, exc)
            return
        now = self._clock.now()
        expires_at = now + grant.expires_in_seconds
        next_renewal_at = self._policy.next_renewal(now, grant.expires_in_seconds)
        self._store.record_renewal(
            connection.id,
            access_token=grant.access_token,
            access_expires_at=expires_at,
            next_renewal_at=next_renewal_at,
            now=now,
        )
        log.info(
            "renewed access token %s for %s, expires at %s",
            fingerprint(grant.access_token),
            connection.id,
            utc_iso(expires_at),
        )
        log.info("renewal scheduled for %s", utc_iso(next_renewal_at))

    def _record_failure(self, connection: Connection, exc: TokenEndpointError) -> None:
        now = self._clock.now()
        failures = connection.renewal_failures + 1
        delay = self._policy.retry_delay(failures, self._rng)
        needs_reauth = isinstance(exc, ReauthorizationRequired)
        if isinstance(exc, Throttled):
            delay = max(delay, self._policy.throttle_pause_seconds)
            outcome = "throttled"
            log.warning(
                "throttled by Zoho's token endpoint; no new try before %s", utc_iso(now + delay)
            )
        elif needs_reauth:
            outcome = f"needs re-authorisation: {exc.reason}"
            if not connection.needs_reauth:
                log.error(
                    "Zoho no longer accepts the refresh token %s (%s): %s. Sends are refused "
                    "until then; the gateway retries with back-off in case Zoho erred.",
                    fingerprint(connection.refresh_token),
                    exc.reason,
                    REAUTH_HINT,
                )
            log.info("needs re-authorisation; retry in %d s", delay)
        else:
            outcome = f"failed: {exc.reason}"
            log.warning("renewal failed (%s); retry in %d s", exc.reason, delay)
        self._store.record_renewal_failure(
            connection.id,
            outcome=outcome,
            failures=failures,
            next_renewal_at=now + delay,
            needs_reauth=needs_reauth,
            now=now,
        )

    # Rules ------------------------------------------------------------------------------

    def _stale(self, connection: Connection, now: float) -> bool:
        return connection.seconds_left(now) <= self._policy.buffer_seconds

    def _backing_off(self, connection: Connection, now: float) -> bool:
        """After a failure, nobody calls Zoho again before the retry time."""
        return connection.renewal_failures > 0 and not connection.renewal_due(now)

    def _wants_on_demand(self, connection: Connection, now: float) -> bool:
        return self._stale(connection, now) and not self._backing_off(connection, now)

    def _token_of(self, connection: Connection) -> str:
        now = self._clock.now()
        if connection.access_token is None or connection.seconds_left(now) <= 0:
            retry_at = connection.next_renewal_at
            raise NotReady(
                "no valid Zoho access token right now "
                f"(last renewal: {connection.last_renewal_outcome or 'none'}); "
                f"next try at {utc_iso(retry_at)}",
                code="token_unavailable",
                retry_after_seconds=None if retry_at is None else max(1.0, retry_at - now),
            )
        return connection.access_token
