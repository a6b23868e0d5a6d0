"""The console's look at many mailboxes: a page of them at a time, how many need attention,
each one's keys and how much of its pace it uses. Reading only; changes go through
MailboxAdmin."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.config.settings import Settings
from mailer.mailboxes.admin import MailboxAdmin, MailboxView
from mailer.runtime.clock import Clock
from mailer.storage.ports import Storage
from mailer.storage.records import KeyInfo

# The console lists this many mailboxes a page.
PAGE_SIZE = 50


@dataclass(frozen=True)
class MailboxPage:
    views: list[MailboxView]
    # The name to list after for the next page (None: this is the last).
    next_after: str | None


@dataclass(frozen=True)
class PaceUse:
    """One of the mailbox's limits and the calls its window holds now."""

    count: int
    window_seconds: float
    used: int


class MailboxDirectory:
    def __init__(
        self, *, settings: Settings, storage: Storage, clock: Clock, admin: MailboxAdmin
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._clock = clock
        self._admin = admin

    def page(self, after: str | None = None, limit: int = PAGE_SIZE) -> MailboxPage:
        found = self._storage.mailboxes.page(after=after, limit=limit + 1)
        shown = found[:limit]
        views = [self._admin.view(m) for m in shown]
        default = self._settings.mailbox
        waiting = after is None and self._settings.transport == "zoho"  # for its first consent
        listed = any(m.name == default for m in shown)
        if waiting and not listed and self._storage.mailboxes.get(default) is None:
            views.insert(0, self._admin.get(default))
        return MailboxPage(views, shown[-1].name if len(found) > limit else None)

    def census(self) -> dict[str, int]:
        """How many mailboxes there are (``all``) and need reconnecting; how many are held."""
        return {**self._storage.mailboxes.census(), "held": len(self._storage.ledger.holds())}

    def keys(self, name: str) -> list[KeyInfo]:
        """The mailbox's issued keys (MAILER_API_KEYS live in the environment, not here)."""
        self._admin.get(name)
        return self._storage.api_keys.of(name)

    def pace(self, name: str) -> list[PaceUse]:
        """Each of ZOHO_RATE_LIMITS against the calls the mailbox made in its window."""
        if self._settings.transport != "zoho":
            return []
        limits = self._settings.rate_limits
        used = self._storage.ledger.used(name, limits, now=self._clock.now())
        return [
            PaceUse(lim.count, lim.window_seconds, n) for lim, n in zip(limits, used, strict=True)
        ]
