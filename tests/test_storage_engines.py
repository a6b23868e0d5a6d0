"""What differs between the engines: the SQLite file, the 0.1.0 upgrade, PostgreSQL's schema,
an unreachable database, and which engine the settings pick."""

from __future__ import annotations

import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from mailer.config import SettingsError, from_env
from mailer.runtime.errors import StateUnavailable
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from mailer.storage.postgres import PostgresStorage, redacted
from mailer.storage.records import Attachment
from mailer.storage.sqlite import SqliteStorage
from tests.postgres import PostgresServer

FIXTURE_010 = Path(__file__).parent / "fixtures" / "state-0.1.0.sqlite3"


@pytest.mark.security
def test_the_sqlite_file_is_created_0600_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mailer.sqlite3"
    storage = SqliteStorage(path)
    assert not path.exists()  # opening touches nothing; the start-up path creates it
    storage.migrate()
    storage.oauth_states.add("s", "b", 2.0, 1.0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sibling in path.parent.glob("mailer.sqlite3-*"):
        assert stat.S_IMODE(sibling.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with storage.database.read() as tx:
        assert tx.row("PRAGMA journal_mode") == {"journal_mode": "wal"}
    storage.close()


def test_a_state_file_written_by_0_1_0_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    """The fixture was written by 0.1.0's own Store: a connection with its tokens, a queued
    message with an attachment, and a completed idempotency record."""
    path = tmp_path / "mailer.sqlite3"
    shutil.copy(FIXTURE_010, path)
    storage = SqliteStorage(path)
    assert storage.migrate() == [
        "0001_initial",
        "0002_oauth_state_outcome",
        "0003_mailboxes",
        "0004_cancel_and_list",
        "0005_webhooks",
        "0006_status_listing",
        "0007_mailbox_names",
        "0008_holds",
        "0009_back_pressure",
        "0010_suppressions",
        "0011_bounces",
        "0012_console",
        "0013_mailbox_generation",
    ]
    mailbox = storage.mailboxes.get("default")
    assert mailbox is not None
    assert mailbox.refresh_token == "1000.old-refresh-token-0001"
    assert mailbox.access_token == "1000.old-access-token-0002"
    assert mailbox.account_id == "2560636000000008002"
    assert mailbox.send_as == ("rebecca@zylker.com", "support@zylker.com")
    assert mailbox.seed_fingerprint == "f0"
    message = storage.messages.get("msg_0100queued")
    assert message is not None and message.status == "queued" and message.calls == 2
    # 0011 rebuilt the messages table: the queue count its triggers keep is still right.
    with storage.database.read() as tx:
        assert tx.row("SELECT waiting FROM mailbox_waiting WHERE mailbox = 'default'") == {
            "waiting": 1
        }
    assert message.payload["subject"] == "Queued in 0.1.0"
    assert message.attachments == (Attachment("report.pdf", "application/pdf", b"%PDF-1.4 old"),)
    record = storage.idempotency.claim(
        "old-key",
        "fp0",
        now=1_790_000_200.0,
        leased_until=1_790_000_500.0,
        expires_at=1_790_086_600.0,
    )
    assert (
        record is not None
        and record.status == 202
        and record.answer == {"id": "msg_0100queued", "status": "queued"}
    )
    claimed = storage.messages.claim_due(
        "default", now=1_790_000_200.0, owner="w", leased_until=1_790_000_300.0
    )
    assert claimed is not None and claimed.id == "msg_0100queued"
    storage.close()


def test_postgresql_keeps_its_tables_in_schema_mailer(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    storage = open_storage(url)
    try:
        assert storage.migrate() == [
            "0001_initial",
            "0002_oauth_state_outcome",
            "0003_mailboxes",
            "0004_cancel_and_list",
            "0005_webhooks",
            "0006_status_listing",
            "0007_mailbox_names",
            "0008_holds",
            "0009_back_pressure",
            "0010_suppressions",
            "0011_bounces",
            "0012_console",
            "0013_mailbox_generation",
        ]
        storage.oauth_states.add("s", "b", 2.0, 1.0)
    finally:
        storage.close()
    with psycopg.connect(url) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mailer'"
            )
        }
        public = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert {"mailboxes", "messages", "message_attachments", "idempotency", "mail_calls"} <= tables
    assert public == (0,)  # nothing of ours in the application's own schema


def test_an_unreachable_database_is_state_unavailable_within_seconds() -> None:
    storage = PostgresStorage("postgresql://mailer:pw@127.0.0.1:9/mailer", timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(StateUnavailable) as raised:
        storage.ping()
    assert time.monotonic() - started < 5
    assert raised.value.code == "state_unavailable" and raised.value.status == 503
    assert "pw" not in raised.value.message
    storage.close()


@pytest.mark.security
def test_the_database_password_is_never_described_or_shown() -> None:
    url = "postgresql://app:s3cret-pw@db.example.com:5432/app?sslmode=require"
    assert "s3cret-pw" not in redacted(url)
    assert "s3cret-pw" not in open_storage(url).describe()
    settings = from_env({"MAILER_DB": url})
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" in settings.secrets  # so the secret guard searches logs for it


@pytest.mark.parametrize(
    ("environ", "engine"),
    [
        ({}, "sqlite"),
        ({"DATABASE_URL": "postgres://u:p@h/d"}, "postgresql"),
        ({"DATABASE_URL": "postgresql://u:p@h/d"}, "postgresql"),
        ({"DATABASE_URL": "mysql://u:p@h/d"}, "sqlite"),  # not ours to use
        ({"MAILER_DB": "/data/m.sqlite3", "DATABASE_URL": "postgres://u:p@h/d"}, "sqlite"),
        ({"MAILER_DB": "postgresql://u:p@h/d"}, "postgresql"),
    ],
)
def test_the_settings_pick_the_engine(environ: dict[str, str], engine: str) -> None:
    assert from_env(environ).db_engine == engine


def test_a_dead_pooled_connection_is_replaced_before_use(
    postgres: PostgresServer, open_state: Callable[[str], Storage]
) -> None:
    """An administrator (or a failover) ends the gateway's connections: the next call works."""
    url = postgres.new_database()
    storage = open_state(url)
    storage.ping()
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    storage.ping()
    assert storage.messages.stats("default").depth == 0


@pytest.mark.security
def test_a_malformed_database_url_is_refused_without_showing_it() -> None:
    url = "postgresql://app:s3cret-pw@[bad/app"
    with pytest.raises(SettingsError) as raised:
        from_env({"DATABASE_URL": url})
    assert "DATABASE_URL: not a valid PostgreSQL URL" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)
    # The engine too: psycopg's parse error quotes the URL; the gateway names the type only.
    with pytest.raises(StateUnavailable) as unavailable:
        PostgresStorage(url, timeout_seconds=1.0).migrate()
    assert "s3cret-pw" not in str(unavailable.value)
    assert unavailable.value.__cause__ is None
