"""Tokens at rest: MAILER_ENCRYPTION_KEY seals them; plain rows are sealed at the first start
with a key; a wrong or missing key stops the start naming the setting; keys rotate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from mailer.config import Settings, SettingsError, from_env
from mailer.storage import open_storage
from mailer.storage.sealing import SealError
from tests.conftest import MESSAGE, SecretGuard, auth_header
from tests.fake_zoho import FakeZoho

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw_tokens(location: str) -> list[tuple[str | None, str | None]]:
    """The token columns as the store holds them, read past the gateway."""
    storage = open_storage(location)
    try:
        with storage.database.read() as tx:  # type: ignore[attr-defined]
            rows = tx.rows("SELECT refresh_token, access_token FROM mailboxes")
        return [(r["refresh_token"], r["access_token"]) for r in rows]
    finally:
        storage.close()


@pytest.fixture
def start(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
    secret_guard: SecretGuard,
) -> Callable[..., Any]:
    """Start a gateway on one state (each engine) with the given encryption keys."""
    refresh = fake_zoho.issue_refresh_token()
    secret_guard.secrets.update({KEY_A, KEY_B})

    def start_with(*keys: str) -> Any:
        settings = make_settings(
            fake_zoho, zoho_refresh_token=refresh, db=state_location, encryption_keys=keys
        )
        app, client = make_app(settings)
        app.extensions["mailer"].jobs.startup()
        return client

    return start_with


def test_tokens_are_stored_sealed_and_still_work(
    start: Callable[..., Any], state_location: str, fake_zoho: FakeZoho
) -> None:
    client = start(KEY_A)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    [(refresh, access)] = raw_tokens(state_location)
    assert refresh is not None and refresh.startswith("fernet:")
    assert access is not None and access.startswith("fernet:")
    for token in fake_zoho.all_tokens:
        assert token not in refresh + access


def test_plain_rows_are_sealed_at_the_first_start_with_a_key(
    start: Callable[..., Any], state_location: str
) -> None:
    start()
    [(refresh, _)] = raw_tokens(state_location)
    assert refresh is not None and not refresh.startswith("fernet:")
    client = start(KEY_A)
    assert all(r and r.startswith("fernet:") for r, _ in raw_tokens(state_location))
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200


@pytest.mark.parametrize("keys", [(KEY_B,), ()], ids=["wrong key", "no key"])
def test_a_wrong_or_missing_key_stops_the_start_naming_the_setting(
    start: Callable[..., Any], keys: tuple[str, ...]
) -> None:
    start(KEY_A)
    with pytest.raises(SealError, match="MAILER_ENCRYPTION_KEY"):
        start(*keys)


def test_keys_rotate_new_first_then_the_old_one_can_go(
    start: Callable[..., Any], state_location: str
) -> None:
    start(KEY_A)
    start(KEY_B, KEY_A)  # reseals every row with KEY_B
    client = start(KEY_B)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200


def test_a_malformed_key_is_a_settings_error_that_does_not_echo_it() -> None:
    with pytest.raises(SettingsError) as raised:
        from_env({"MAILER_ENCRYPTION_KEY": "not-a-fernet-key-at-all"})
    assert "MAILER_ENCRYPTION_KEY" in str(raised.value)
    assert "not-a-fernet-key-at-all" not in str(raised.value)
    assert KEY_A not in repr(from_env({"MAILER_ENCRYPTION_KEY": KEY_A}))
