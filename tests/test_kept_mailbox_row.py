"""A worker keeps the mailbox's row it checked the last accept against, and the statement that
stores the next message checks that the row is still that generation. On both engines: a change
made by another worker (a refused refresh token, a new sender) is seen by the next accept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from mailer.config.settings import Settings
from tests.conftest import MESSAGE, FakeClock, auth_header
from tests.fake_zoho import ALIAS, FakeZoho


def two_workers(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> tuple[Any, Any]:
    settings = make_settings(
        fake_zoho,
        zoho_refresh_token=fake_zoho.issue_refresh_token(),
        db=state_location,
        rate_limits=(),
    )
    first, client = make_app(settings)
    first.extensions["mailer"].jobs.startup()
    second, _ = make_app(settings)
    return (first, client), second


def renewal_failed_elsewhere(worker: Flask, clock: FakeClock, *, refused: bool) -> None:
    """What another worker records when a renewal fails (refused: the token is dead)."""
    worker.extensions["mailer"].storage.mailboxes.record_renewal_failure(
        "default", outcome="refused" if refused else "failed", failures=1,
        next_renewal_at=clock.now() + 60, needs_reauth=refused, now=clock.now(),
    )  # fmt: skip


def messages(app: Flask) -> int:
    with app.extensions["mailer"].storage.database.read() as tx:
        row = tx.row("SELECT count(*) AS n FROM messages")
    return int(row["n"])


def test_a_refused_token_recorded_by_another_worker_stops_the_next_accept(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
    clock: FakeClock,
) -> None:
    (first, client), second = two_workers(fake_zoho, make_settings, make_app, state_location)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    stored = messages(first)
    renewal_failed_elsewhere(second, clock, refused=True)  # Zoho refuses the refresh token
    refused = client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "reauthorization_required"
    assert messages(first) == stored  # nothing stored


def test_a_row_changed_elsewhere_is_read_again_and_the_message_goes(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
    clock: FakeClock,
) -> None:
    (first, client), second = two_workers(fake_zoho, make_settings, make_app, state_location)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    renewal_failed_elsewhere(second, clock, refused=False)  # the row (its generation) changes
    again = client.post("/api/email/send", json={**MESSAGE, "from": ALIAS}, headers=auth_header())
    assert again.status_code == 200, again.get_json()
    assert messages(first) == 2
