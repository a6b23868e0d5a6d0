"""The state store: records, the Protocols services use, and two engines that implement them.

``open_storage`` picks the engine from the state's location: a ``postgresql://`` (or
``postgres://``) URL is PostgreSQL, anything else a SQLite file path.
"""

from __future__ import annotations

from mailer.storage.ports import Storage
from mailer.storage.sealing import Sealer


def is_postgres_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database (else it is a SQLite file path)."""
    return location.startswith(("postgresql://", "postgres://"))


def open_storage(
    location: str, *, timeout_seconds: float = 3.0, encryption_keys: tuple[str, ...] = ()
) -> Storage:
    """The engine for ``location``; nothing is connected or created until first use.

    With ``encryption_keys`` (Fernet), tokens are stored encrypted."""
    sealer = Sealer(encryption_keys)
    if is_postgres_url(location):
        from mailer.storage.postgres import PostgresStorage

        return PostgresStorage(location, timeout_seconds=timeout_seconds, sealer=sealer)
    from mailer.storage.sqlite import SqliteStorage

    return SqliteStorage(location, sealer=sealer)
