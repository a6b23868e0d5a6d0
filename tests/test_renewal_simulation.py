"""10,000 mailboxes through 48 simulated hours: exactly one renewal per token lifetime each, and
no minute holding more than twice the average.

The real sweep, token service and SQLite state, two workers ticking every second of a fake
clock; Zoho's token endpoint is an in-process stand-in (576,000 HTTP round trips to the fake
would take longer than the whole suite). Set MAILER_SIM_MAILBOXES / MAILER_SIM_HOURS to vary it.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from mailer.mailboxes.renewal_sweep import RenewalSweep
from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.fanout import Fanout
from mailer.storage import open_storage
from mailer.zoho.accounts import TokenGrant
from tests.conftest import FakeClock

MAILBOXES = int(os.environ.get("MAILER_SIM_MAILBOXES", "10000"))
HOURS = int(os.environ.get("MAILER_SIM_HOURS", "48"))
LIFETIME = 3600.0


class InstantTokenEndpoint:
    """Zoho's token endpoint, answering at once with a one-hour token; records each call."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: dict[str, list[float]] = defaultdict(list)
        self._n = itertools.count()

    def refresh(self, accounts_url: str, refresh_token: str) -> TokenGrant:
        self.calls[refresh_token].append(self.clock.now())
        return TokenGrant(f"access-{next(self._n)}", LIFETIME, None, None)


@pytest.mark.soak
def test_ten_thousand_mailboxes_for_two_days(
    tmp_path: Path, clock: FakeClock, report: Callable[[str], None]
) -> None:
    endpoint = InstantTokenEndpoint(clock)
    location = str(tmp_path / "sim.sqlite3")
    setup = open_storage(location)
    setup.migrate()
    started = clock.now()
    for i in range(MAILBOXES):  # a mass connection: every refresh token stored at once
        setup.mailboxes.create(
            f"m{i}",
            accounts_url="https://accounts.zoho.com",
            mail_api_url="https://mail.zoho.com",
            from_address=None,
            refresh_token=f"refresh-{i}",
            now=started,
        )
    workers = []
    for seed in range(2):  # two workers, each with its own connections
        storage = open_storage(location)
        tokens = TokenService(
            mailboxes=storage.mailboxes,
            accounts=endpoint,
            locks=storage.locks,
            clock=clock,
            policy=RenewalPolicy(),
            rng=random.Random(seed),
        )
        workers.append(
            RenewalSweep(
                mailboxes=storage.mailboxes,
                tokens=tokens,
                clock=clock,
                fanout=Fanout("sim", inline=True),
                claim_seconds=65,
            )
        )
    wall = time.monotonic()
    quiet = logging.getLogger("mailer")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # 576,000 "renewed" lines would only fill the memory
    try:
        for _ in range(HOURS * 3600):
            clock.advance(1)
            for sweep in workers:
                sweep.run()
    finally:
        quiet.setLevel(level)
    wall = time.monotonic() - wall

    renewals: Counter[int] = Counter()  # per minute, after each mailbox's first token
    for i in range(MAILBOXES):
        times = endpoint.calls[f"refresh-{i}"]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # One renewal per lifetime: never two within one token's life, never one too late.
        assert all(300 <= gap <= LIFETIME - 300 for gap in gaps), (i, gaps)
        assert times[-1] > clock.now() - LIFETIME  # the last token is still alive
        for at in times[1:]:
            renewals[int((at - started) // 60)] += 1
    minutes = HOURS * 60
    average = sum(renewals.values()) / minutes
    busiest = max(renewals.values())
    report(
        f"\nsimulation: {MAILBOXES} mailboxes, {HOURS} h: {sum(renewals.values())} renewals, "
        f"{average:.0f}/minute on average, busiest minute {busiest} "
        f"({busiest / average:.2f}x); {wall:.0f} s of wall time"
    )
    assert busiest <= 2 * average
