"""Tokens at rest: sealed with MAILER_ENCRYPTION_KEY (Fernet; several keys rotate), or plain.

A sealed value is ``fernet:`` and a Fernet token, so that plain rows written before a key was
set are told apart and sealed at the next start.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mailer.runtime.errors import GatewayError

PREFIX = "fernet:"


class SealError(GatewayError):
    """A stored token cannot be opened with the configured keys; the gateway must not start."""

    status = 500
    code = "encryption_key_mismatch"


class Sealer:
    """Seals and opens token columns; without keys it stores them as they are."""

    def __init__(self, keys: tuple[str, ...] = ()) -> None:
        self._fernets = [Fernet(k.encode()) for k in keys]
        self._all = MultiFernet(self._fernets) if self._fernets else None

    def __repr__(self) -> str:
        return f"Sealer(keys={len(self._fernets)})"

    @property
    def enabled(self) -> bool:
        return self._all is not None

    def seal(self, value: str | None) -> str | None:
        if value is None or self._all is None:
            return value
        return PREFIX + self._all.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        if self._all is None:
            raise SealError(
                "the stored tokens are encrypted, but MAILER_ENCRYPTION_KEY is not set: set it "
                "to the key they were encrypted with"
            )
        try:
            return self._all.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SealError(
                "the stored tokens do not open with MAILER_ENCRYPTION_KEY: it is not the key "
                "they were encrypted with (to rotate, list the new key first, then the old)"
            ) from exc

    def needs_resealing(self, value: str | None) -> bool:
        """A plain value while a key is set, or one sealed with a key other than the first."""
        if value is None or self._all is None:
            return False
        if not value.startswith(PREFIX):
            return True
        try:
            self._fernets[0].decrypt(value[len(PREFIX) :].encode())
        except InvalidToken:
            return True
        return False
