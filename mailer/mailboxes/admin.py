"""What the admin does to mailboxes: create, look at, delete, connect links, keys.

The admin API and the command line both call this; neither touches the state store itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mailer.config.data_centres import mail_api_for, trusted_server
from mailer.config.settings import Settings
from mailer.mailboxes.api_keys import IssuedKey, KeyRing
from mailer.mailboxes.connect_links import ConnectLinkIssued, ConnectLinks
from mailer.mailboxes.revocation import revoke_refresh_token
from mailer.mailboxes.tokens import Renewal, TokenService
from mailer.runtime import metrics
from mailer.runtime.clock import Clock
from mailer.runtime.errors import Conflict, GatewayError, InvalidRequest, NotFound
from mailer.sending.request import parse_sender
from mailer.sending.results import OutboxStats, outbox_stats
from mailer.sending.service import PartsByName
from mailer.sending.view import message_view
from mailer.storage.outbox_ports import EventMaker, no_events
from mailer.storage.ports import Storage
from mailer.storage.records import MAILBOX_NAME, Mailbox, Suppression, ZohoAnswer
from mailer.zoho.accounts import ZohoAccounts

log = logging.getLogger(__name__)

_CREATE_FIELDS = frozenset({"name", "refresh_token", "accounts_server", "from_address"})


def check_name(name: object, field_name: str = "name") -> str:
    if not isinstance(name, str) or not MAILBOX_NAME.match(name):
        raise InvalidRequest(
            "a mailbox name is 1 to 63 characters: lower-case letters, digits, - and _, "
            "starting with a letter or digit",
            field=field_name,
            code="invalid_mailbox_name",
        )
    return name


@dataclass(frozen=True)
class MailboxView:
    """A mailbox as the admin sees it; never a token."""

    mailbox: Mailbox
    # Its queue, throttle pause and hold.
    stats: OutboxStats
    # Zoho's last answers that no rule covers, newest first.
    answers: tuple[ZohoAnswer, ...] = ()
    # Sends refused by back-pressure in the last 24 hours, by reason.
    refused: dict[str, int] = field(default_factory=dict)
    # Reading its bounces: "on", "off" (MAILER_BOUNCES=off) or "needs_reconnect" (its consent
    # did not grant reading).
    bounces: str = "off"


@dataclass(frozen=True)
class Created:
    view: MailboxView
    link: ConnectLinkIssued


class MailboxAdmin:
    def __init__(
        self,
        *,
        settings: Settings,
        storage: Storage,
        clock: Clock,
        keys: KeyRing,
        parts: PartsByName,
        tokens: TokenService | None,
        accounts: ZohoAccounts | None,
        events: EventMaker = no_events,
    ) -> None:
        self._events = events
        self._settings = settings
        self._storage = storage
        self._clock = clock
        self._keys = keys
        self._parts = parts
        self._tokens = tokens
        self._accounts = accounts
        self._links = ConnectLinks(settings=settings, storage=storage, clock=clock)

    # Looking ------------------------------------------------------------------------------

    def get(self, name: str) -> MailboxView:
        return self.view(self._require(name))

    def all(self) -> list[MailboxView]:
        mailboxes = self._storage.mailboxes.all()
        if self._settings.transport == "zoho" and not any(
            m.name == self._settings.mailbox for m in mailboxes
        ):
            mailboxes.insert(0, self._unconnected_default())
        return [self.view(m) for m in mailboxes]

    # Changing -----------------------------------------------------------------------------

    def create(self, body: object) -> Created:
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object", code="invalid_body")
        unknown = sorted(set(body) - _CREATE_FIELDS)
        if unknown:
            raise InvalidRequest(
                f"unknown field {unknown[0]!r}", field=unknown[0], code="unknown_field"
            )
        name = check_name(body.get("name"))
        refresh_token = body.get("refresh_token")
        if refresh_token is not None and (
            not isinstance(refresh_token, str) or not 1 <= len(refresh_token) <= 500
        ):
            raise InvalidRequest(
                "refresh_token must be a string of Zoho's refresh token",
                field="refresh_token",
                code="invalid_refresh_token",
            )
        accounts_url = self._accounts_server(body.get("accounts_server"))
        from_address = parse_sender(body.get("from_address"), "from_address")
        if name == self._settings.mailbox:
            raise Conflict(
                f"{name} is the environment's mailbox (ZOHO_REFRESH_TOKEN, /api/email/auth)",
                field="name",
                code="mailbox_exists",
            )
        created = self._storage.mailboxes.create(
            name,
            accounts_url=accounts_url,
            mail_api_url=mail_api_for(
                accounts_url,
                configured_accounts_url=self._settings.zoho_accounts_url,
                configured_api_domain=self._settings.zoho_api_domain,
            ),
            from_address=from_address,
            refresh_token=refresh_token or None,
            now=self._clock.now(),
        )
        if not created:
            raise Conflict(f"a mailbox named {name} exists", field="name", code="mailbox_exists")
        log.info("mailbox %s created%s", name, " with a refresh token" if refresh_token else "")
        if refresh_token:
            self._first_token(name)
        return Created(self.get(name), self.connect_link(name))

    def delete(self, name: str) -> None:
        if name == self._settings.mailbox and self._settings.zoho_refresh_token:
            raise Conflict(
                f"{name} comes from ZOHO_REFRESH_TOKEN: unset it to remove the mailbox",
                code="mailbox_from_environment",
            )
        removed = self._storage.mailboxes.delete(name)
        if removed is None:
            raise self._not_found(name)
        self._parts.forget(name)
        failed = self._storage.messages.fail_waiting(
            name,
            code="mailbox_deleted",
            error=f"mailbox {name} was deleted before the message went out",
            now=self._clock.now(),
            event_for=lambda failed: self._events("message.failed", message_view(failed)),
        )
        for _ in failed:
            metrics.message_reached(name, "failed")
        if removed.refresh_token is not None:
            self._revoke(removed)
        log.info("mailbox %s deleted; %d waiting messages failed", name, len(failed))

    def connect_link(self, name: str) -> ConnectLinkIssued:
        self._require(name)
        return self._links.issue(name)

    def open_link(self, secret: str) -> str:
        """The mailbox a connect link is for, marking it used; 410 when used or expired."""
        return self._links.open(secret)

    def issue_key(self, name: str) -> IssuedKey:
        if name != self._settings.mailbox:
            self._require(name)
        issued = self._keys.issue(name)
        log.info("mailbox %s: API key %s issued", name, issued.id)
        return issued

    def resume(self, name: str) -> MailboxView:
        """End a mailbox's hold by hand: its waiting mail goes out at the pace."""
        self._require(name)
        if self._parts(name).outbox.holds.resume() is None:
            log.info("mailbox %s was not on hold; nothing to resume", name)
        return self.get(name)

    def suppressions(self, name: str) -> list[Suppression]:
        """The addresses the mailbox sends nothing to, newest first."""
        self._require(name)
        return self._storage.suppressions.all(name)

    def suppress(self, name: str, body: object) -> Suppression:
        """An admin adds ``{"address"}`` to the mailbox's suppression list."""
        self._require(name)
        if not isinstance(body, dict) or set(body) != {"address"}:
            raise InvalidRequest('send {"address": "..."}', code="invalid_request")
        address = parse_sender(body["address"], "address")
        if address is None:
            raise InvalidRequest("address is required", field="address", code="missing_field")
        now = self._clock.now()
        if self._storage.suppressions.add(name, address, reason="manual", now=now):
            log.info("mailbox %s: an admin suppressed an address", name)
        return next(s for s in self._storage.suppressions.all(name) if s.address == address)

    def unsuppress(self, name: str, address: str) -> None:
        self._require(name)
        if not self._storage.suppressions.remove(name, address.strip().lower()):
            raise NotFound("that address is not on the mailbox's suppression list",
                           code="suppression_not_found")  # fmt: skip
        log.info("mailbox %s: an admin removed an address from its suppression list", name)

    def revoke_key(self, key_id: str, name: str | None = None) -> None:
        if not self._keys.revoke(key_id, name):
            raise NotFound(f"no API key {key_id[:40]!r}", code="key_not_found")
        log.info("API key %s revoked", key_id)

    # Helpers ------------------------------------------------------------------------------

    def _first_token(self, name: str) -> None:
        """A mailbox added with a refresh token: its first access token and its account now,
        so that the answer says whether Zoho takes the token."""
        if self._tokens is None:
            return
        outcome = self._tokens.renew(name, self._tokens.due, spread=_always).outcome
        if outcome is Renewal.REFUSED:
            self._storage.mailboxes.delete(name)
            raise InvalidRequest(
                "Zoho refused this refresh token (revoked, or of another OAuth client or data "
                "centre); nothing was stored",
                field="refresh_token",
                code="refresh_token_refused",
            )
        if outcome is Renewal.RENEWED:
            try:
                self._parts(name).transport.look_up_account()
            except GatewayError as exc:
                log.warning("mailbox %s: account look-up failed: %s", name, exc.message)

    def _revoke(self, mailbox: Mailbox) -> None:
        assert mailbox.refresh_token is not None
        if self._accounts is None:
            return
        revoke_refresh_token(
            self._accounts,
            mailbox.accounts_url,
            mailbox.refresh_token,
            mailbox=mailbox.name,
            which="its refresh token",
        )

    def _accounts_server(self, value: Any) -> str:
        if value is None:
            return self._settings.zoho_accounts_url
        trusted = (
            trusted_server(value, self._settings.zoho_accounts_url)
            if isinstance(value, str)
            else None
        )
        if trusted is None:
            raise InvalidRequest(
                "accounts_server must be one of Zoho's accounts servers (data centres) or "
                "ZOHO_ACCOUNTS_URL",
                field="accounts_server",
                code="untrusted_accounts_server",
            )
        return trusted

    def _require(self, name: str) -> Mailbox:
        mailbox = self._storage.mailboxes.get(name)
        if mailbox is None and name == self._settings.mailbox:
            return self._unconnected_default()
        if mailbox is None:
            raise self._not_found(name)
        return mailbox

    def _unconnected_default(self) -> Mailbox:
        """The environment's mailbox before anything connected it."""
        return Mailbox(
            name=self._settings.mailbox,
            refresh_token=None,
            accounts_url=self._settings.zoho_accounts_url,
            mail_api_url=self._settings.zoho_api_domain,
        )

    def _not_found(self, name: str) -> NotFound:
        return NotFound(f"no mailbox named {name[:63]!r}", code="mailbox_not_found")

    def view(self, mailbox: Mailbox) -> MailboxView:
        """A stored mailbox with its queue, pause, answers and refusals."""
        ledger = self._storage.ledger
        stats = outbox_stats(self._storage.messages, ledger, mailbox.name, self._clock.now())
        return MailboxView(
            mailbox,
            stats,
            tuple(ledger.answers(mailbox.name)),
            self._storage.admissions.refusals(mailbox.name, since=self._clock.now() - 86400),
            bounces_state(mailbox, on=self._settings.bounces),
        )


def bounces_state(mailbox: Mailbox, *, on: bool) -> str:
    if not on:
        return "off"
    return "on" if mailbox.can_read() else "needs_reconnect"


def _always(mailbox: Mailbox, now: float) -> bool:
    """A new mailbox's first renewal is spread over its token's lifetime."""
    return True
