"""API keys: which mailbox a bearer key sends from.

``MAILER_API_KEYS`` are the ``default`` mailbox's, compared in constant time in memory. Keys
made through the admin API belong to their mailbox and are stored as SHA-256 digests only: a
key is looked up by its digest (a digest of a 256-bit secret tells an attacker nothing by its
timing), so a revoked key stops working at the next request in every worker and host.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from mailer.runtime.clock import Clock
from mailer.runtime.digests import digest
from mailer.storage.ports import ApiKeyStore

KEY_PREFIX = "mk_"


def key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time, so that timing tells nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate.encode(), key.encode())
    return matched


@dataclass(frozen=True)
class IssuedKey:
    id: str
    mailbox: str
    key: str = field(repr=False)


class KeyRing:
    def __init__(
        self, *, env_keys: tuple[str, ...], store: ApiKeyStore, clock: Clock, env_mailbox: str
    ) -> None:
        self._env_keys = env_keys
        self._store = store
        self._clock = clock
        self._env_mailbox = env_mailbox

    def __repr__(self) -> str:
        return f"KeyRing(env_keys={len(self._env_keys)})"

    def mailbox_for(self, candidate: str | None) -> str | None:
        """The mailbox a key belongs to; None for no key or an unknown or revoked one."""
        if not candidate:
            return None
        if key_matches(candidate, self._env_keys):
            return self._env_mailbox
        if not candidate.startswith(KEY_PREFIX):
            return None  # not one of ours: no need to ask the store
        return self._store.mailbox_for(digest(candidate))

    def issue(self, mailbox: str) -> IssuedKey:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(8)
        self._store.add(key_id, mailbox, digest(key), now=self._clock.now())
        return IssuedKey(key_id, mailbox, key)

    def revoke(self, key_id: str, mailbox: str | None = None) -> bool:
        """Delete a key (of ``mailbox``, when given); False when there is none."""
        return self._store.delete(key_id, mailbox)
