"""The SQLite state: file mode, WAL, seeding from the environment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mailer.store import Account, Store


@pytest.mark.security
def test_the_file_is_created_0600_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mailer.sqlite3"
    store = Store(path)
    store.seed_connection(
        "default",
        refresh_token="r",
        fingerprint="f",
        accounts_url="a",
        mail_api_url="m",
        account_id=None,
        now=1.0,
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sibling in path.parent.glob("mailer.sqlite3-*"):
        assert stat.S_IMODE(sibling.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    journal = store._db().execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_seeding_applies_a_changed_token_once_and_keeps_a_reconnected_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    seed = {"accounts_url": "a", "mail_api_url": "m", "account_id": None, "now": 1.0}
    assert store.seed_connection("default", refresh_token="r1", fingerprint="f1", **seed)
    assert not store.seed_connection("default", refresh_token="r1", fingerprint="f1", **seed)
    store.replace_connection(
        "default",
        refresh_token="r2",
        accounts_url="a",
        mail_api_url="m",
        account=Account("1", "me@example.com", ("me@example.com",)),
        access_token="t",
        access_expires_at=10.0,
        next_renewal_at=5.0,
        now=2.0,
    )
    # Restart with the same environment: the connection made through the browser stays.
    assert not store.seed_connection("default", refresh_token="r1", fingerprint="f1", **seed)
    connection = store.connection("default")
    assert connection is not None
    assert connection.refresh_token == "r2"
    # A new token in the environment wins at the next start.
    assert store.seed_connection("default", refresh_token="r3", fingerprint="f3", **seed)
    connection = store.connection("default")
    assert connection is not None
    assert connection.refresh_token == "r3"
    assert connection.access_token is None


def test_connections_are_keyed_by_id(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    seed = {"accounts_url": "a", "mail_api_url": "m", "account_id": None, "now": 1.0}
    store.seed_connection("one", refresh_token="r1", fingerprint="f1", **seed)
    store.seed_connection("two", refresh_token="r2", fingerprint="f2", **seed)
    one, two = store.connection("one"), store.connection("two")
    assert one is not None
    assert two is not None
    assert (one.refresh_token, two.refresh_token) == ("r1", "r2")
    assert store.connection("three") is None
