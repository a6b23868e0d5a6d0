"""Figures of reading bounces back (MAILER_BOUNCES=on) at 1,000 mailboxes on PostgreSQL: the
calls to Zoho per mailbox per hour with nothing to read, the time to read every mailbox once,
and the time of a look that finds no mailbox due."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from mailer.mailboxes.bounce_poll import BouncePoll
from mailer.mailboxes.tokens import RenewalPolicy, TokenService
from mailer.runtime.clock import SystemClock
from mailer.runtime.fanout import Fanout
from mailer.storage import open_storage
from mailer.storage.outbox_ports import no_events
from mailer.storage.ports import Storage
from mailer.storage.records import Grant
from mailer.zoho.account import Account
from mailer.zoho.accounts import ZohoAccounts
from mailer.zoho.http import ZohoSession
from mailer.zoho.inbox import ZohoInbox
from tests.fake_zoho import FakeZoho
from tests.fake_zoho_read import READ_SCOPES, SEND_SCOPES

MAILBOXES = 1_000
POLL_SECONDS = 300.0


def populate(storage: Storage, fake: FakeZoho, accounts: ZohoAccounts) -> None:
    """``MAILBOXES`` mailboxes, each a Zoho user of its own whose consent allows reading, with
    a fresh access token and its account known (so a read calls only the Mail API)."""
    storage.migrate()
    now = time.time()
    for i in range(MAILBOXES):
        name = f"b{i:04d}"
        refresh = fake.add_account(f"{name}@acme.example", scope=f"{SEND_SCOPES} {READ_SCOPES}")
        storage.mailboxes.create(
            name,
            accounts_url=fake.url,
            mail_api_url=fake.url,
            from_address=None,
            refresh_token=refresh,
            now=now,
        )
        grant = accounts.refresh(fake.url, refresh)
        storage.mailboxes.record_renewal(
            name, Grant(grant.access_token, now + 3600, now + 3000, grant.scopes), now=now
        )
        account = fake.account_for(refresh)
        storage.mailboxes.save_account(
            name, Account(account.account_id, account.primary, (account.primary,))
        )


def read_all(poll: BouncePoll) -> tuple[float, int]:
    """Seconds to read every mailbox due, and how many were read."""
    started = time.perf_counter()
    read = 0
    while claimed := poll.run():
        read += claimed
    return time.perf_counter() - started, read


def measure(work: Path) -> dict[str, Any]:
    from tests.postgres import PostgresServer

    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    postgres = PostgresServer(work / "postgres-bounces")
    session = ZohoSession(5)
    accounts = ZohoAccounts(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri=fake.redirect_uri,
        session=session,
    )
    storage = open_storage(postgres.new_database())
    try:
        populate(storage, fake, accounts)
        clock = SystemClock()
        poll = BouncePoll(
            store=storage.bounces,
            tokens=TokenService(
                mailboxes=storage.mailboxes,
                accounts=accounts,
                locks=storage.locks,
                clock=clock,
                policy=RenewalPolicy(),
            ),
            inbox=ZohoInbox(session),
            ledger=storage.ledger,
            windows=(),
            events=no_events,
            clock=clock,
            fanout=Fanout("bench", inline=True),
            poll_seconds=POLL_SECONDS,
            look_up_account=lambda name: None,
        )
        first_seconds, first_read = read_all(poll)  # each Inbox's id looked up once
        idle = []
        for _ in range(200):
            started = time.perf_counter()
            assert poll.run() == 0
            idle.append((time.perf_counter() - started) * 1000)
        with storage.database.write() as tx:  # every mailbox due again
            tx.execute("UPDATE bounce_marks SET next_poll_at = 0")
        calls_before = len(fake.mail_calls)
        seconds, read = read_all(poll)
        calls = len(fake.mail_calls) - calls_before
        assert first_read == read == MAILBOXES, (first_read, read)
    finally:
        storage.close()
        postgres.close()
        fake.stop()
    return {
        "calls_per_read": calls / read,
        "calls_per_hour": calls / read * 3600 / POLL_SECONDS,
        "pass_seconds": seconds,
        "first_pass_seconds": first_seconds,
        "idle_ms": statistics.median(idle),
    }


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (
            "calls to Zoho per mailbox per hour, nothing to read",
            f"poll every {POLL_SECONDS:.0f} s",
            "≤ one per poll (12)",
            f"{figures['calls_per_hour']:.1f} ({figures['calls_per_read']:.2f} per read)",
        ),
        (
            "reading every mailbox once, nothing new, PostgreSQL",
            f"{MAILBOXES:,} mailboxes, one thread, fake Zoho on loopback",
            "≤ the poll interval",
            f"{figures['pass_seconds']:.1f} s (first, with the Inbox look-ups: "
            f"{figures['first_pass_seconds']:.1f} s)",
        ),
        (
            "a look that finds no mailbox due, PostgreSQL",
            f"{MAILBOXES:,} mailboxes, median of 200",
            "≤ 20 ms",
            f"{figures['idle_ms']:.2f} ms",
        ),
    ]
