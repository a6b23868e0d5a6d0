"""``flask --app app mailer …`` from a real shell: the schema upgrade on both engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import ROOT, seeded_env
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
    assert (
        "applied 0001_initial, 0002_oauth_state_outcome, 0003_mailboxes, 0004_cancel_and_list,"
        " 0005_webhooks, 0006_status_listing, 0007_mailbox_names, 0008_holds, 0009_back_pressure,"
        " 0010_suppressions, 0011_bounces, 0012_console,"
        " 0013_mailbox_generation" in first.stdout
    )
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


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path, real_fake: FakeZoho) -> dict[str, str]:
    """A zoho-transport gateway's environment against the fake, on each engine."""
    env = seeded_env(real_fake, tmp_path, MAILER_LOG_LEVEL="WARNING")
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        env["MAILER_DB"] = server.new_database()
    return env


def mailer_cli(env: dict[str, str], cwd: Path, *args: str, stdin: str = "") -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "mailer", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_every_mailbox_and_key_command_round_trips(
    cli_env: dict[str, str], tmp_path: Path, real_fake: FakeZoho
) -> None:
    token = real_fake.add_account("billing@acme.example")
    added = mailer_cli(
        cli_env,
        tmp_path,
        "mailboxes",
        "add",
        "billing",
        "--refresh-token-stdin",
        "--json",
        stdin=token + "\n",
    )
    assert added.returncode == 0, added.stderr
    view = json.loads(added.stdout)
    assert view["status"] == "connected" and view["address"] == "billing@acme.example"
    assert token not in added.stdout + added.stderr

    listed = mailer_cli(cli_env, tmp_path, "mailboxes", "list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].split() == [
        "NAME",
        "STATUS",
        "ADDRESS",
        "TOKEN",
        "EXPIRES",
        "NEXT",
        "RENEWAL",
        "QUEUE",
    ]
    rows = [line.split()[:3] for line in listed.stdout.splitlines()]
    assert ["billing", "connected", "billing@acme.example"] in rows

    link = mailer_cli(cli_env, tmp_path, "mailboxes", "connect-link", "billing", "--json")
    assert json.loads(link.stdout)["connect_url"].startswith(
        "http://localhost:8000/api/email/connect/"
    )

    key = json.loads(mailer_cli(cli_env, tmp_path, "keys", "create", "billing", "--json").stdout)
    assert key["key"].startswith("mk_") and key["mailbox"] == "billing"
    assert mailer_cli(cli_env, tmp_path, "keys", "revoke", key["id"]).returncode == 0
    again = mailer_cli(cli_env, tmp_path, "keys", "revoke", key["id"])
    assert again.returncode == 1 and again.stderr.strip().startswith("Error: key_not_found")

    sent = mailer_cli(
        cli_env,
        tmp_path,
        "send",
        "--to",
        "paula@example.com",
        "--subject",
        "Hi",
        "--text",
        "hello",
        "--mailbox",
        "billing",
        "--json",
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["status"] == "queued"  # stored: a running gateway sends it
    assert real_fake.sent == []

    status = mailer_cli(cli_env, tmp_path, "status", "--mailbox", "billing", "--json")
    assert status.returncode == 0, status.stdout
    assert json.loads(status.stdout)["queue_depth"] == 1

    assert mailer_cli(cli_env, tmp_path, "mailboxes", "remove", "billing").returncode == 0
    assert token in real_fake.revoked
    gone = mailer_cli(cli_env, tmp_path, "mailboxes", "remove", "billing")
    assert gone.returncode == 1
    assert gone.stderr.strip() == "Error: mailbox_not_found: no mailbox named 'billing'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("mailboxes", "add", "Bad Name"), "invalid_mailbox_name"),
        (("status", "--mailbox", "nobody"), "mailbox_not_found"),
        (("send", "--to", "not an address", "--subject", "S", "--text", "T"), "invalid_address"),
        (("keys", "create", "nobody"), "mailbox_not_found"),
    ],
)
def test_a_failing_command_says_why_in_one_line_and_exits_1(
    cli_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = mailer_cli(cli_env, tmp_path, *args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_queue_commands_list_retry_and_cancel(
    cli_env: dict[str, str], tmp_path: Path, real_fake: FakeZoho
) -> None:
    def send() -> str:
        stored = mailer_cli(
            cli_env,
            tmp_path,
            "send",
            "--to",
            "paula@example.com",
            "--subject",
            "S",
            "--text",
            "T",
            "--json",
        )
        return str(json.loads(stored.stdout)["id"])

    first, second = send(), send()
    listed = json.loads(mailer_cli(cli_env, tmp_path, "queue", "list", "--json").stdout)
    assert [m["id"] for m in listed["messages"]] == [second, first]
    table = mailer_cli(cli_env, tmp_path, "queue", "list")
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "STATUS", "ATTEMPTS"]
    assert mailer_cli(cli_env, tmp_path, "queue", "cancel", first).returncode == 0
    assert mailer_cli(cli_env, tmp_path, "queue", "retry", second).returncode == 0
    canceled_again = mailer_cli(cli_env, tmp_path, "queue", "retry", first)
    assert canceled_again.returncode == 1 and "not_retryable" in canceled_again.stderr
    left = json.loads(mailer_cli(cli_env, tmp_path, "queue", "list", "--json").stdout)
    assert [m["id"] for m in left["messages"]] == [second]
    missing = mailer_cli(cli_env, tmp_path, "queue", "cancel", "msg_nope")
    assert missing.returncode == 1 and "message_not_found" in missing.stderr


def test_the_suppression_commands_round_trip(cli_env: dict[str, str], tmp_path: Path) -> None:
    added = mailer_cli(cli_env, tmp_path, "suppressions", "add", "default", "Gone@Example.com")
    assert added.returncode == 0 and "gone@example.com" in added.stdout
    listed = json.loads(
        mailer_cli(cli_env, tmp_path, "suppressions", "list", "default", "--json").stdout
    )
    assert [s["address"] for s in listed["suppressions"]] == ["gone@example.com"]
    sent = mailer_cli(
        cli_env, tmp_path, "send", "--to", "gone@example.com", "--subject", "s", "--text", "t"
    )
    assert sent.returncode == 1 and "recipient_suppressed" in sent.stderr
    removed = mailer_cli(cli_env, tmp_path, "suppressions", "remove", "default", "gone@example.com")
    assert removed.returncode == 0
    again = mailer_cli(cli_env, tmp_path, "suppressions", "remove", "default", "gone@example.com")
    assert again.returncode == 1 and "suppression_not_found" in again.stderr
