"""The renewal sweep on the fake clock: every mailbox renewed once per token lifetime by one of
several workers, spread out after a mass connection, and one mailbox's trouble isolated."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from mailer.config.settings import Settings
from tests.conftest import MESSAGE, FakeClock, SecretGuard, admin_header, auth_header
from tests.fake_zoho import FakeZoho


@pytest.fixture
def workers(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> list[Flask]:
    """Three gateways (as three workers) on one state, each engine."""
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), db=state_location
    )
    apps = [make_app(settings)[0] for _ in range(3)]
    for app in apps:
        app.extensions["mailer"].jobs.startup()
    return apps


def add_mailboxes(app: Flask, fake: FakeZoho, count: int) -> dict[str, str]:
    """``count`` mailboxes, each a Zoho user of its own; returns name -> refresh token."""
    client = app.test_client()
    tokens = {}
    for i in range(count):
        name = f"tenant-{i:03d}"
        tokens[name] = fake.add_account(f"{name}@acme.example")
        created = client.post(
            "/api/email/mailboxes",
            json={"name": name, "refresh_token": tokens[name]},
            headers=admin_header(),
        )
        assert created.status_code == 201
    return tokens


def run(apps: list[Flask], clock: FakeClock, seconds: int, step: int = 5) -> None:
    """Advance the clock, every worker's timed work running at each step."""
    for _ in range(seconds // step):
        clock.advance(step)
        for app in apps:
            app.extensions["mailer"].jobs.tick()


def test_twenty_mailboxes_are_each_renewed_once_per_lifetime_by_three_workers(
    workers: list[Flask], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    tokens = add_mailboxes(workers[0], fake_zoho, 20)
    run(workers, clock, 12 * 3600)
    for name, token in tokens.items():
        times = [c.at for c in fake_zoho.refresh_calls_for(token)]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # The first renewal is spread (a mass connection); every later one comes once per
        # lifetime, 10 minutes before expiry (within the 5 s step of this test).
        assert all(3000 <= gap <= 3005 for gap in gaps[1:]), (name, gaps)
        assert 300 <= gaps[0] <= 3005
        assert 14 <= len(times) <= 16  # the connection, the spread one, then one per 3000 s
        assert max(times) > clock.now() - 3005  # still going at the end


def test_one_mailboxs_trouble_leaves_every_other_on_time(
    workers: list[Flask], fake_zoho: FakeZoho, clock: FakeClock, secret_guard: SecretGuard
) -> None:
    tokens = add_mailboxes(workers[0], fake_zoho, 4)
    broken, throttled, failing, fine = tokens.values()
    fake_zoho.revoke(broken)
    fake_zoho.token_failures_for[throttled] = deque(["throttle"] * 50)
    fake_zoho.token_failures_for[failing] = deque(["500"] * 50)
    run(workers, clock, 4 * 3600)
    client = workers[1].test_client()
    views = {
        m["name"]: m
        for m in client.get("/api/email/mailboxes", headers=admin_header()).json["mailboxes"]
    }
    assert views["tenant-000"]["status"] == "needs_reconnect"
    assert views["tenant-001"]["status"] == "connected"
    assert views["tenant-003"]["status"] == "connected"
    fine_times = [c.at for c in fake_zoho.refresh_calls_for(fine)]
    assert all(3000 <= b - a <= 3005 for a, b in itertools.pairwise(fine_times[1:]))
    # The default mailbox too, and its sends.
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    # Back-off: the failing and throttled mailboxes were not hammered.
    assert len(fake_zoho.refresh_calls_for(failing)) <= 4 * 4 + 8  # at most every 15 minutes
    assert len(fake_zoho.refresh_calls_for(throttled)) <= 4 * 6 + 2
    # One line says what to do, once, naming the mailbox.
    reconnect = [r for r in secret_guard.records if "tenant-000 needs reconnecting" in r]
    assert len(reconnect) == 1 and "connect-link" in reconnect[0]
    assert any("renewal sweep:" in r and "need reconnecting" in r for r in secret_guard.records)


def test_a_mass_connection_spreads_the_renewals_over_the_lifetime(
    workers: list[Flask], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    fake_zoho.token_limit = None
    start = clock.now()
    add_mailboxes(workers[0], fake_zoho, 100)
    client = workers[0].test_client()
    mailboxes = client.get("/api/email/mailboxes", headers=admin_header()).json["mailboxes"]
    storage = workers[0].extensions["mailer"].storage
    due = sorted(
        storage.mailboxes.get(m["name"]).next_renewal_at - start
        for m in mailboxes
        if m["name"] != "default"
    )
    assert due[0] >= 300 and due[-1] <= 3000
    # Ten 270-second slices of the window each hold some; none holds a third.
    slices = [sum(1 for d in due if 300 + 270 * i <= d < 300 + 270 * (i + 1)) for i in range(10)]
    assert min(slices) >= 2 and max(slices) <= 33
