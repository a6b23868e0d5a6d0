"""``flask --app app mailer …`` from a real shell: the schema upgrade on both engines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.gunicorn_server import ROOT
from tests.postgres import PostgresServer


def flask(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_db_upgrade_applies_once_and_starts_nothing(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if engine == "sqlite":
        db = str(tmp_path / "state" / "mailer.sqlite3")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        db = server.new_database()
    first = flask("mailer", "db", "upgrade", cwd=tmp_path, MAILER_DB=db)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial, 0002_oauth_state_outcome" in first.stdout
    again = flask("mailer", "db", "upgrade", cwd=tmp_path, MAILER_DB=db)
    assert again.returncode == 0 and "up to date" in again.stdout
    # A command starts no timed work: nothing was delivered, renewed or even scheduled.
    assert "scheduler" not in (first.stderr + again.stderr).lower()
    if engine == "postgresql":
        with psycopg.connect(db) as connection:
            assert connection.execute("SELECT count(*) FROM mailer.messages").fetchone() == (0,)


def test_db_upgrade_says_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = flask(
        "mailer", "db", "upgrade", cwd=tmp_path, MAILER_DB="postgresql://u:hidden-pw@127.0.0.1:9/x"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "state database cannot be reached" in result.stderr
    assert "hidden-pw" not in result.stderr + result.stdout
