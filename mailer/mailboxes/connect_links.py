"""Connect links: a single-use, expiring link that starts Zoho's consent for one mailbox, so
that its owner connects it without the admin key. Stored as the digest of its secret."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from mailer.config.settings import Settings
from mailer.runtime.clock import Clock
from mailer.runtime.digests import digest
from mailer.runtime.errors import Gone, NotFound
from mailer.storage.ports import Storage

log = logging.getLogger(__name__)

CONNECT_PATH = "/api/email/connect/"


@dataclass(frozen=True)
class ConnectLinkIssued:
    url: str = field(repr=False)
    expires_at: float


class ConnectLinks:
    def __init__(self, *, settings: Settings, storage: Storage, clock: Clock) -> None:
        self._settings = settings
        self._storage = storage
        self._clock = clock
        redirect = settings.zoho_redirect_uri
        self._origin = redirect[: redirect.index("/", redirect.index("//") + 2)]

    def issue(self, name: str) -> ConnectLinkIssued:
        """A new link for mailbox ``name`` (which the caller checked exists)."""
        secret = secrets.token_urlsafe(32)
        expires_at = self._clock.now() + self._settings.connect_link_hours * 3600
        self._storage.connect_links.add(digest(secret), name, expires_at=expires_at)
        log.info("mailbox %s: connect link issued", name)
        return ConnectLinkIssued(f"{self._origin}{CONNECT_PATH}{secret}", expires_at)

    def open(self, secret: str) -> str:
        """The mailbox a link is for, marking it used; 404 for a stranger, 410 when used or
        expired (saying, for a used one, whether its mailbox is connected)."""
        link = self._storage.connect_links.take(digest(secret), now=self._clock.now())
        if link is None:
            raise NotFound(
                "this connect link is not one of this gateway's", code="connect_link_not_found"
            )
        if link.used_at is not None:
            raise Gone(self._used(link.mailbox), code="connect_link_used")
        if link.expires_at <= self._clock.now():
            raise Gone(
                "this connect link expired; ask the gateway's admin for a new one",
                code="connect_link_expired",
            )
        return link.mailbox

    def _used(self, name: str) -> str:
        mailbox = self._storage.mailboxes.get(name)
        if mailbox is not None and mailbox.status == "connected":
            return (
                f"this connect link was used, and mailbox {name} is connected: it sends from "
                f"{mailbox.primary_address or 'its Zoho account'}. There is nothing more to do."
            )
        return (
            f"this connect link was used already, and mailbox {name} is not connected; "
            "ask the gateway's admin for a new link"
        )
