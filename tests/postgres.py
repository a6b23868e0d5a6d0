"""A real PostgreSQL server for tests, from the pgserver wheel (PyPI): no system install needed.

One server per test session; each test gets a database of its own. The server can be stopped
and started again, as a database restart in production would.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg

# pgserver asks platformdirs for a runtime directory; give it one rather than a warning.
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = Path(f"/tmp/mailer-tests-runtime-{os.getuid()}")
    _runtime.mkdir(mode=0o700, exist_ok=True)
    _runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)

import pgserver
from pgserver._commands import pg_ctl
from pgserver.utils import ensure_prefix_permissions


class PostgresServer:
    def __init__(self, data_dir: Path) -> None:
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop")
        self._data_dir = data_dir
        self.admin_url = self._server.get_uri()

    def url(self, database: str) -> str:
        return self._server.get_uri(database)

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once, dropping every connection (``pg_ctl stop -m fast``)."""
        # Another pytest on this machine resets /tmp/pytest-of-<user> to 0700, which locks
        # the server's own user out of its data directory; pgserver opens the way as at start.
        ensure_prefix_permissions(self._data_dir)
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._data_dir, user=self._server.system_user)

    def start(self) -> None:
        ensure_prefix_permissions(self._data_dir)
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()
