"""Each mailbox's own transport and outbox, built on first use and kept while in use.

They hold nothing that must outlive them (the state store holds the leases, pace and tokens),
so the least recently used are dropped past MAX_KEPT: a worker's memory does not grow with the
number of mailboxes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mailer.sending.outbox import Outbox
from mailer.transports import Transport


@dataclass(frozen=True)
class MailboxParts:
    transport: Transport
    outbox: Outbox


MAX_KEPT = 1000


class PartsByMailbox:
    def __init__(self, build: Callable[[str], MailboxParts], *, keep: int = MAX_KEPT) -> None:
        self._build = build
        self._keep = keep
        self._parts: OrderedDict[str, MailboxParts] = OrderedDict()
        self._guard = threading.Lock()

    def __call__(self, name: str) -> MailboxParts:
        with self._guard:
            parts = self._parts.get(name)
            if parts is not None:
                self._parts.move_to_end(name)
                return parts
        built = self._build(name)  # may read the store: outside the lock
        with self._guard:
            parts = self._parts.setdefault(name, built)
            self._parts.move_to_end(name)
            while len(self._parts) > self._keep:
                self._parts.popitem(last=False)
            return parts

    def forget(self, name: str) -> None:
        with self._guard:
            self._parts.pop(name, None)
