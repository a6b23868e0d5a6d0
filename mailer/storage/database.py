"""What an engine provides to the tables: transactions, reads, and its few dialect differences.

The tables (``storage/tables/``) are written once, in the SQL both engines speak, with ``?``
placeholders; an engine runs them. Rows come back as mappings from column name to value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = Mapping[str, Any]


class Tx(Protocol):
    """Statements inside one transaction (or one autocommitted read)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def row(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class Database(Protocol):
    # Appended to the SELECT that picks a message to lease: PostgreSQL's row lock that lets
    # other hosts pass over the row; nothing on SQLite, whose writers take turns anyway.
    claim_suffix: str
    # SQLite: one writer at a time, so a read inside a write transaction stays true until the
    # commit. PostgreSQL: writers run side by side; a unique index decides races instead.
    writers_take_turns: bool

    def read(self) -> AbstractContextManager[Tx]:
        """Reads that see committed data; no transaction held."""

    def write(
        self, *, serialize: str | tuple[str, ...] | None = None
    ) -> AbstractContextManager[Tx]:
        """One transaction; with ``serialize`` (a key, or keys taken in the order given),
        writers naming the same key take turns."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement, atomic and committed on its own (no BEGIN and COMMIT around it:
        one round trip on PostgreSQL); returns the number of rows it changed."""

    def is_duplicate(self, error: BaseException) -> bool:
        """Whether ``error`` is a unique index refusing a second row with the same key."""
