"""The versioned schema: SQL migrations per engine, applied with yoyo-migrations.

The caller holds the engine's migration lock, so one process applies while the others wait;
yoyo's own lock table is not used (a process killed mid-way would leave it behind).
"""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def apply_migrations(engine: str, yoyo_url: str) -> list[str]:
    """Apply what is pending; returns the ids applied (empty when the schema is current)."""
    backend = get_backend(yoyo_url)
    try:
        pending = backend.to_apply(read_migrations(str(MIGRATIONS / engine)))
        if pending:
            backend.apply_migrations(pending)
            log.info("schema upgraded: applied %s", ", ".join(m.id for m in pending))
        return [m.id for m in pending]
    finally:
        backend.connection.close()
