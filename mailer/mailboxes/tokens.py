"""The access-token lifecycle: single-flight renewal and the lead / buffer / retry / back-off policy.

Every path that may renew (the renewal sweep, startup, a new mailbox's first token, a request
that finds the token stale, a token Zoho refused) goes through ``TokenService.renew``: take the
in-process and the cross-process lock, re-read the store, and renew only if the reason still
holds. Whoever waited on the lock then uses the token the holder stored.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from mailer.runtime import metrics
from mailer.runtime.backoff import backoff
from mailer.runtime.clock import Clock, utc_iso
from mailer.runtime.errors import NotConnected, ReauthorizationRequired, TokenUnavailable
from mailer.storage.outbox_ports import EventMaker, no_events
from mailer.storage.ports import MailboxStore, SingleFlight
from mailer.storage.records import Grant, Mailbox
from mailer.zoho.accounts import GrantRefused, Throttled, TokenEndpointError, TokenGrant

log = logging.getLogger(__name__)

REAUTH_HINT = "an admin must reconnect the mailbox at /api/email/auth"
# A spread renewal comes this share of its usual wait at the earliest.
SPREAD_FLOOR = 0.1


def reauth_hint(name: str) -> str:
    """What to do about a mailbox whose refresh token Zoho refuses."""
    if name == "default":
        return REAUTH_HINT
    return (
        f"issue a connect link for its owner (POST /api/email/mailboxes/{name}/connect-link, "
        f"or `flask --app app mailer mailboxes connect-link {name}`)"
    )


CONNECT_HINT = "an admin connects one at /api/email/auth (or sets ZOHO_REFRESH_TOKEN)"


def fingerprint(secret: str | None) -> str:
    """The last 4 characters of a secret, enough to tell tokens apart in a log."""
    return "none" if not secret else f"…{secret[-4:]}"


def require_usable(mailbox: Mailbox | None, name: str = "default") -> Mailbox:
    """The mailbox, if it can be used at all; else the 503 that says what to do."""
    if mailbox is None or mailbox.refresh_token is None:
        if name == "default":
            raise NotConnected(f"no Zoho mailbox is connected yet: {CONNECT_HINT}")
        raise NotConnected(
            f"mailbox {name} is not connected yet: its owner opens its connect link "
            f"(POST /api/email/mailboxes/{name}/connect-link issues one)"
        )
    if mailbox.needs_reauth:
        raise ReauthorizationRequired(
            f"Zoho no longer accepts the stored refresh token of mailbox {name}: "
            f"{reauth_hint(name)}"
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

    def next_renewal(
        self, now: float, lifetime_seconds: float, spread: random.Random | None = None
    ) -> float:
        """The proactive renewal time for a token that just arrived.

        With ``spread``, a random share (at least SPREAD_FLOOR) of the usual wait: renewals that
        a restart or a mass connection bunched together spread over the token's lifetime, and
        keep that phase afterwards.
        """
        wait = (
            lifetime_seconds - self.lead_seconds
            if lifetime_seconds > self.lead_seconds
            else lifetime_seconds / 2
        )
        if spread is not None:
            wait *= spread.uniform(SPREAD_FLOOR, 1.0)
        return now + wait

    def retry_delay(self, failures: int, rng: random.Random) -> float:
        """Seconds before the next try after ``failures`` failures in a row (at least one)."""
        # The first retry comes exactly when configured; later ones with jitter.
        jitter = rng if failures > 1 else None
        return backoff(
            self.retry_seconds, failures, cap_seconds=self.max_backoff_seconds, jitter=jitter
        )


class Renewal(Enum):
    """How a call to the one renewal path ended."""

    RENEWED = "renewed"
    FAILED = "failed"
    THROTTLED = "throttled"
    REFUSED = "refused"  # Zoho no longer accepts the refresh token: the mailbox needs reconnecting
    NOT_NEEDED = "not_needed"  # the reason no longer held once the locks were held


@dataclass(frozen=True)
class RenewalResult:
    outcome: Renewal
    # The mailbox as found under the locks, before the renewal (None: it does not exist).
    mailbox: Mailbox | None


# Whether a mailbox, as stored at a time, still needs the renewal a path asks for.
Wants = Callable[[Mailbox, float], bool]


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
        events: EventMaker = no_events,
    ) -> None:
        self._events = events
        self._mailboxes = mailboxes
        self._accounts = accounts
        self._locks = locks
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()

    # The one renewal path ---------------------------------------------------------------

    def renew(self, name: str, wants: Wants, *, spread: Wants | None = None) -> RenewalResult:
        """Renew ``name``'s access token if ``wants`` still holds once the in-process and the
        cross-process lock are held (``spread``: whether its next renewal is drawn at random).

        Every path goes through here: the renewal sweep (``due``), a request that finds the
        token stale (``stale``), a token Zoho refused (``rejected``), startup and a new
        mailbox's first token. Whoever waited on the locks finds the reason gone and uses the
        token the holder stored.
        """
        with self._locks.hold(f"token-{name}"):
            mailbox = self._mailboxes.get(name)
            now = self._clock.now()
            if mailbox is None or not wants(mailbox, now):
                return RenewalResult(Renewal.NOT_NEEDED, mailbox)
            spreads = spread is not None and spread(mailbox, now)
            return RenewalResult(self._renew(mailbox, spread=spreads), mailbox)

    def due(self, mailbox: Mailbox, now: float) -> bool:
        """The schedule (or the back-off after a failure) allows a renewal now."""
        return mailbox.renewal_due(now)

    def stale(self, mailbox: Mailbox, now: float) -> bool:
        """Less than the buffer is left, and no back-off after a failure forbids a call."""
        return self._stale(mailbox, now) and not self._backing_off(mailbox, now)

    def rejected(self, token: str) -> Wants:
        """Zoho refused ``token``: renew unless someone already replaced it."""

        def wants(mailbox: Mailbox, now: float) -> bool:
            return mailbox.access_token in (None, token) and not self._backing_off(mailbox, now)

        return wants

    # Who asks for a renewal ----------------------------------------------------------------

    def startup(self, name: str) -> None:
        """Use a stored token that is still fresh; renew at once otherwise (once for all workers)."""
        mailbox = self._mailboxes.get(name)
        if mailbox is None or mailbox.refresh_token is None:
            log.warning("no Zoho mailbox is connected yet: %s", CONNECT_HINT)
            return
        if self._stale(mailbox, self._clock.now()):
            self.renew(name, self.stale)
            mailbox = self._mailboxes.get(name)
        if mailbox is not None and mailbox.seconds_left(self._clock.now()) > 0:
            # Every worker says which token it starts with, whoever renewed it.
            log.info(
                "using stored token %s, expires at %s; renewal scheduled for %s",
                fingerprint(mailbox.access_token),
                utc_iso(mailbox.access_expires_at),
                utc_iso(mailbox.next_renewal_at),
            )

    def credentials(self, name: str) -> tuple[Mailbox, str]:
        """The mailbox with a usable access token (one read of the store when fresh); renews
        first when less than the buffer is left."""
        mailbox = require_usable(self._mailboxes.get(name), name)
        if self._stale(mailbox, self._clock.now()):
            self.renew(name, self.stale)
            mailbox = require_usable(self._mailboxes.get(name), name)
        return mailbox, self._token_of(mailbox)

    def renew_after_rejection(self, name: str, rejected_token: str) -> str:
        """Zoho refused ``rejected_token``: renew once (single flight) and return the new one."""
        self._mailboxes.discard_access_token(name, rejected_token)
        self.renew(name, self.rejected(rejected_token))
        return self._token_of(require_usable(self._mailboxes.get(name), name))

    # Calling Zoho ------------------------------------------------------------------------

    def _renew(self, mailbox: Mailbox, *, spread: bool = False) -> Renewal:
        """Call Zoho once and record the outcome; the caller holds the locks."""
        assert mailbox.refresh_token is not None
        try:
            grant = self._accounts.refresh(mailbox.accounts_url, mailbox.refresh_token)
        except TokenEndpointError as exc:
            return self._record_failure(mailbox, exc)
        now = self._clock.now()
        expires_at = now + grant.expires_in_seconds
        next_renewal_at = self._policy.next_renewal(
            now, grant.expires_in_seconds, self._rng if spread else None
        )
        self._mailboxes.record_renewal(
            mailbox.name,
            Grant(grant.access_token, expires_at, next_renewal_at, grant.scopes),
            now=now,
        )
        metrics.renewal(mailbox.name, Renewal.RENEWED.value)
        log.info(
            "renewed access token %s for %s, expires at %s; next renewal at %s",
            fingerprint(grant.access_token),
            mailbox.name,
            utc_iso(expires_at),
            utc_iso(next_renewal_at),
        )
        return Renewal.RENEWED

    def _record_failure(self, mailbox: Mailbox, exc: TokenEndpointError) -> Renewal:
        now = self._clock.now()
        failures = mailbox.renewal_failures + 1
        delay = self._policy.retry_delay(failures, self._rng)
        if isinstance(exc, Throttled):
            delay = max(delay, self._policy.throttle_pause_seconds)
            outcome, recorded = Renewal.THROTTLED, "throttled"
            log.warning(
                "mailbox %s: throttled by Zoho's token endpoint; no new try before %s",
                mailbox.name,
                utc_iso(now + delay),
            )
        elif isinstance(exc, GrantRefused):
            outcome, recorded = Renewal.REFUSED, f"needs re-authorisation: {exc.reason}"
            if not mailbox.needs_reauth:
                log.error(
                    "mailbox %s needs reconnecting: Zoho no longer accepts the refresh token %s "
                    "(%s); %s. Its sends are refused and its queued messages wait until then; "
                    "the gateway retries with back-off in case Zoho erred.",
                    mailbox.name,
                    fingerprint(mailbox.refresh_token),
                    exc.reason,
                    reauth_hint(mailbox.name),
                )
            log.info("mailbox %s needs re-authorisation; retry in %d s", mailbox.name, delay)
        else:
            outcome, recorded = Renewal.FAILED, f"failed: {exc.reason}"
            log.warning(
                "mailbox %s: renewal failed (%s); retry in %d s", mailbox.name, exc.reason, delay
            )
        metrics.renewal(mailbox.name, outcome.value)
        needs_reauth = outcome is Renewal.REFUSED
        newly_refused = needs_reauth and not mailbox.needs_reauth
        self._mailboxes.record_renewal_failure(
            mailbox.name,
            outcome=recorded,
            failures=failures,
            next_renewal_at=now + delay,
            needs_reauth=needs_reauth,
            now=now,
            event=self._events(
                "mailbox.needs_reconnect",
                {
                    "name": mailbox.name,
                    "status": "needs_reconnect",
                    "address": mailbox.primary_address,
                },
            )
            if newly_refused
            else None,
        )
        return outcome

    # Rules ------------------------------------------------------------------------------

    def _stale(self, mailbox: Mailbox, now: float) -> bool:
        return mailbox.seconds_left(now) <= self._policy.buffer_seconds

    def _backing_off(self, mailbox: Mailbox, now: float) -> bool:
        """After a failure, nobody calls Zoho again before the retry time."""
        return mailbox.renewal_failures > 0 and not mailbox.renewal_due(now)

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
