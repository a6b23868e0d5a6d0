"""The token lifecycle against the fake Zoho, on a fake clock; several services act as workers."""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections.abc import Callable

import pytest

from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.errors import NotReady
from mailer.storage.ports import Storage
from mailer.zoho.accounts import ZohoAccounts
from mailer.zoho.http import ZohoSession
from tests.conftest import FakeClock
from tests.fake_zoho import FakeZoho

CONN = "default"


class Worker:
    """What one gunicorn worker holds: its own store connections, locks and token service."""

    def __init__(
        self, storage: Storage, fake: FakeZoho, clock: FakeClock, policy: RenewalPolicy
    ) -> None:
        self.storage = storage
        accounts = ZohoAccounts(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            redirect_uri=fake.redirect_uri,
            session=ZohoSession(2.0),
        )
        self.tokens = TokenService(
            mailboxes=self.storage.mailboxes,
            accounts=accounts,
            locks=self.storage.locks,
            clock=clock,
            policy=policy,
            rng=random.Random(3),
        )


@pytest.fixture
def seeded(
    state_location: str, open_state: Callable[[str], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> Callable[[], Storage]:
    """A state (on each engine) holding a refresh token the fake knows; each call opens it anew,
    as another worker would."""
    storage = open_state(state_location)
    storage.mailboxes.seed(
        CONN,
        refresh_token=fake_zoho.issue_refresh_token(),
        fingerprint="seed",
        accounts_url=fake_zoho.url,
        mail_api_url=fake_zoho.url,
        account_id=None,
        now=clock.now(),
    )
    return lambda: open_state(state_location)


def workers(
    state: Callable[[], Storage], fake: FakeZoho, clock: FakeClock, n: int = 3, **policy: float
) -> list[Worker]:
    return [Worker(state(), fake, clock, RenewalPolicy(**policy)) for _ in range(n)]


def tick_all(pool: list[Worker], clock: FakeClock, seconds: int) -> None:
    """Advance the clock a second at a time, every worker ticking each second."""
    for _ in range(seconds):
        clock.advance(1)
        for worker in pool:
            worker.tokens.renew(CONN, worker.tokens.due)


def test_three_workers_start_with_one_renewal_and_a_restart_needs_none(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    pool = workers(seeded, fake_zoho, clock)
    threads = [threading.Thread(target=w.tokens.startup, args=(CONN,)) for w in pool]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake_zoho.refresh_calls()) == 1
    tokens = {w.tokens.credentials(CONN)[1] for w in pool}
    assert len(tokens) == 1

    clock.advance(120)
    for worker in workers(seeded, fake_zoho, clock):  # a restart on the same state
        worker.tokens.startup(CONN)
    assert len(fake_zoho.refresh_calls()) == 1


def test_a_token_with_612_seconds_is_renewed_every_12_seconds_once_whatever_the_workers(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    fake_zoho.expires_in = 612
    fake_zoho.token_limit = None  # this pace is over Zoho's real limit; here it is the point
    pool = workers(seeded, fake_zoho, clock, 4)
    for worker in pool:
        worker.tokens.startup(CONN)
    tick_all(pool, clock, 600)
    times = [c.at for c in fake_zoho.refresh_calls()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 51  # the startup renewal and one every 12 s for 600 s
    assert set(gaps) == {12.0}


def test_renewal_is_scheduled_lead_seconds_before_the_server_given_expiry(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    [worker] = workers(seeded, fake_zoho, clock, 1)
    worker.tokens.startup(CONN)
    connection = worker.storage.mailboxes.get(CONN)
    assert connection is not None
    assert connection.access_expires_at == clock.now() + 3600
    assert connection.next_renewal_at == clock.now() + 3000
    tick_all([worker], clock, 2999)
    assert len(fake_zoho.refresh_calls()) == 1
    tick_all([worker], clock, 1)
    assert len(fake_zoho.refresh_calls()) == 2


def test_a_failed_renewal_is_retried_after_the_retry_seconds(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    pool = workers(seeded, fake_zoho, clock, 2)
    pool[0].tokens.startup(CONN)
    old = pool[0].tokens.credentials(CONN)[1]
    fake_zoho.token_failures.append("500")
    tick_all(pool, clock, 3000)  # the proactive renewal fails
    assert len(fake_zoho.refresh_calls()) == 2
    assert pool[0].tokens.credentials(CONN)[1] == old  # still valid: used meanwhile
    tick_all(pool, clock, 59)
    assert len(fake_zoho.refresh_calls()) == 2
    tick_all(pool, clock, 1)
    assert len(fake_zoho.refresh_calls()) == 3
    assert pool[1].tokens.credentials(CONN)[1] != old
    connection = pool[0].storage.mailboxes.get(CONN)
    assert connection is not None
    assert connection.last_renewal_outcome == "renewed"


def test_failures_back_off_exponentially_with_jitter_capped_at_15_minutes(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    [worker] = workers(seeded, fake_zoho, clock, 1)
    fake_zoho.token_failures.extend(["500"] * 12)
    worker.tokens.startup(CONN)
    tick_all([worker], clock, 3 * 3600)
    times = [c.at for c in fake_zoho.refresh_calls()][:13]  # 12 failures, then the success
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] == 60
    assert 60 <= gaps[1] <= 120
    assert 120 <= gaps[2] <= 240
    assert all(gap <= 900 for gap in gaps)
    assert sum(gap > 440 for gap in gaps) >= 6  # it grew to the cap's range and stayed there
    assert worker.tokens.credentials(CONN)[1]
    connection = worker.storage.mailboxes.get(CONN)
    assert connection is not None
    assert connection.renewal_failures == 0


def test_throttled_means_no_new_try_for_ten_minutes(
    seeded: Callable[[], Storage],
    fake_zoho: FakeZoho,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = workers(seeded, fake_zoho, clock)
    fake_zoho.token_failures.append("throttle")
    for worker in pool:
        worker.tokens.startup(CONN)
    assert len(fake_zoho.refresh_calls()) == 1
    for worker in pool:  # on-demand callers do not hammer Zoho either
        with pytest.raises(NotReady) as raised:
            worker.tokens.credentials(CONN)[1]
        assert raised.value.code == "token_unavailable"
    tick_all(pool, clock, 599)
    assert len(fake_zoho.refresh_calls()) == 1
    tick_all(pool, clock, 1)
    assert len(fake_zoho.refresh_calls()) == 2
    assert any("throttled" in r.getMessage() for r in caplog.records)


def test_the_200_throttle_body_is_throttling_too(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    fake_zoho.throttle_status = 200
    fake_zoho.token_failures.append("throttle")
    [worker] = workers(seeded, fake_zoho, clock, 1)
    worker.tokens.startup(CONN)
    connection = worker.storage.mailboxes.get(CONN)
    assert connection is not None
    assert connection.last_renewal_outcome == "throttled"


def test_an_invalid_refresh_token_needs_reauthorisation_logged_once_and_is_retried_rarely(
    seeded: Callable[[], Storage],
    fake_zoho: FakeZoho,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = workers(seeded, fake_zoho, clock)
    connection = pool[0].storage.mailboxes.get(CONN)
    assert connection is not None
    assert connection.refresh_token is not None
    fake_zoho.revoke(connection.refresh_token)
    for worker in pool:
        worker.tokens.startup(CONN)
    tick_all(pool, clock, 60)
    for worker in pool:
        with pytest.raises(NotReady) as raised:
            worker.tokens.credentials(CONN)[1]
        assert raised.value.code == "reauthorization_required"
        assert "/api/email/auth" in raised.value.message
    assert len(fake_zoho.refresh_calls()) == 2  # at start, and one retry after 60 s
    tick_all(pool, clock, 3600)
    assert len(fake_zoho.refresh_calls()) <= 10  # backing off to 15 minutes
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "/api/email/auth" in errors[0].getMessage()


def test_a_request_renews_on_demand_when_less_than_the_buffer_is_left(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    pool = workers(seeded, fake_zoho, clock)
    first = pool[0].tokens.credentials(CONN)[1]  # no startup, no ticks: on demand only
    clock.advance(3600 - 301)
    assert pool[1].tokens.credentials(CONN)[1] == first
    clock.advance(2)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.tokens.credentials(CONN)[1]))
        for w in pool
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert first not in results
    assert len(fake_zoho.refresh_calls()) == 2


def test_a_rejected_token_is_renewed_once_for_a_burst(
    seeded: Callable[[], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    pool = workers(seeded, fake_zoho, clock)
    old = pool[0].tokens.credentials(CONN)[1]
    fake_zoho.expire_access_tokens()
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda w=w: results.append(w.tokens.renew_after_rejection(CONN, old))
        )
        for w in pool
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 24
    assert len(set(results)) == 1
    assert old not in results
    assert len(fake_zoho.refresh_calls()) == 2


def test_no_connection_is_not_ready(
    state_location: str, open_state: Callable[[str], Storage], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    [worker] = workers(lambda: open_state(state_location), fake_zoho, clock, 1)
    worker.tokens.startup(CONN)
    worker.tokens.renew(CONN, worker.tokens.due)
    with pytest.raises(NotReady) as raised:
        worker.tokens.credentials(CONN)[1]
    assert raised.value.code == "not_connected"
    assert fake_zoho.token_calls == []


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(1, 60, 60), (2, 60, 120), (3, 120, 240), (4, 240, 480), (5, 450, 900), (9, 450, 900)],
)
def test_retry_delay(failures: int, low: float, high: float) -> None:
    delay = RenewalPolicy().retry_delay(failures, random.Random(failures))
    assert low <= delay <= high


def test_a_lifetime_shorter_than_the_lead_renews_at_half_life() -> None:
    assert RenewalPolicy(lead_seconds=600).next_renewal(0, 300) == 150
    assert RenewalPolicy(lead_seconds=600).next_renewal(0, 3600) == 3000
