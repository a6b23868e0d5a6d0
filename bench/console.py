"""The console's server time at 10,000 mailboxes and 1,000,000 messages, per engine: the
overview, a mailbox's page, a message's page and searches, each the median of 20 requests
answered by the app in process (what the server spends; no network)."""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from mailer import create_app
from mailer.config.settings import Settings
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from tests.conftest import ADMIN_KEY, admin_header

MAILBOXES = 10_000
MESSAGES = 1_000_000
WEEK = 7 * 86400
REPEATS = 20
# Of every 100 messages: this many end each way (the rest are sent).
FAILED, BOUNCED, QUEUED = 3, 1, 1

COLUMNS = (
    "id, mailbox, status, payload, calls, attempts, next_attempt_at, created_at, updated_at,"
    " finished_at, subject, recipients"
)

# (what, path): the pages timed; {box} and {message} are filled in.
PAGES = (
    ("overview", "/"),
    ("a mailbox's page", "/mailboxes/{box}"),
    ("a message's page", "/messages/{message}"),
    ("search: a recipient, every mailbox", "/messages?recipient=user4242%40example.com"),
    ("search: part of a subject, every mailbox", "/messages?subject=invoice+77"),
    ("search: failed, every mailbox", "/messages?status=failed"),
    ("search: a mailbox's failed", "/messages?mailbox={box}&status=failed"),
    ("search: a tag, one day", "/messages?tag=welcome&since={since}&until={until}"),
)


def rows_of(count: int, now: float) -> Any:
    """``count`` messages over the last 7 days, spread over the mailboxes."""
    rng = random.Random(5)
    for i in range(count):
        created = now - WEEK + WEEK * i / count
        roll = rng.randrange(100)
        status = (
            "failed" if roll < FAILED
            else "bounced" if roll < FAILED + BOUNCED
            else "queued" if roll < FAILED + BOUNCED + QUEUED
            else "sent"
        )  # fmt: skip
        to = f"user{rng.randrange(50_000)}@example.com"
        subject = f"Invoice {rng.randrange(100_000)}"
        payload = json.dumps({"to": [to], "subject": subject, "text": "hello", "tags": []})
        finished = None if status == "queued" else created + 2
        yield (
            f"msg_{i:012d}",
            f"m{rng.randrange(MAILBOXES):05d}",
            status,
            payload,
            1,
            0 if status == "queued" else 1,
            created,
            created,
            finished or created,
            finished,
            subject,
            to,
        )


def populate(storage: Storage, now: float) -> None:
    """10,000 mailboxes and 1,000,000 messages (every tenth tagged ``welcome``), with the
    hourly counts the triggers would have kept."""
    storage.migrate()
    with storage.database.write() as tx:  # type: ignore[attr-defined]
        tx.executemany(
            "INSERT INTO mailboxes (name, refresh_token, accounts_url, mail_api_url, account_id,"
            " primary_address, send_as, next_renewal_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"m{i:05d}", "1000.bench", "https://accounts.zoho.com", "https://mail.zoho.com",
                 str(i), f"m{i:05d}@acme.example", json.dumps([f"m{i:05d}@acme.example"]),
                 now + 86400, now, now)
                for i in range(MAILBOXES)
            ],
        )  # fmt: skip
    batch: list[tuple[Any, ...]] = []
    for row in rows_of(MESSAGES, now):
        batch.append(row)
        if len(batch) == 20_000:
            _insert(storage, batch)
            batch = []
    _insert(storage, batch)
    with storage.database.write() as tx:  # type: ignore[attr-defined]
        hour = (
            "(floor(finished_at / 3600) * 3600)::bigint"
            if storage.engine == "postgresql"
            else "CAST(finished_at / 3600 AS INTEGER) * 3600"
        )
        tx.execute(
            f"INSERT INTO activity_hours (mailbox, hour, outcome, count) SELECT mailbox, {hour},"
            " status, count(*) FROM messages WHERE status IN ('sent', 'failed', 'bounced')"
            " GROUP BY 1, 2, 3"
        )
        tx.execute(
            "INSERT INTO activity_hours (mailbox, hour, outcome, count)"
            " SELECT '', hour, outcome, sum(count) FROM activity_hours GROUP BY 2, 3"
        )


def _insert(storage: Storage, batch: list[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" for _ in range(12))
    with storage.database.write() as tx:  # type: ignore[attr-defined]
        tx.executemany(f"INSERT INTO messages ({COLUMNS}) VALUES ({marks})", batch)
        tx.executemany(
            "INSERT INTO message_tags (message_id, mailbox, tag, created_at)"
            " VALUES (?, ?, 'welcome', ?)",
            [(r[0], r[1], r[7]) for i, r in enumerate(batch) if int(r[0][4:]) % 10 == 0],
        )


def server_times(location: str, now: float) -> dict[str, float]:
    """Median milliseconds of each page, the app reading the populated state."""
    settings = Settings(transport="outbox", db=location, admin_key=ADMIN_KEY, api_keys=())
    app = create_app(settings)
    client = app.test_client()
    day = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 86400))
    values = {
        "box": "m04242",
        "message": f"msg_{MESSAGES // 2:012d}",
        "since": day,
        "until": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now - 86400 + 86400)),
    }
    figures = {}
    for what, path in PAGES:
        url = path.format(**values)
        answer = client.get(url, headers=admin_header())
        assert answer.status_code == 200, (url, answer.status_code)
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            client.get(url, headers=admin_header())
            times.append((time.perf_counter() - started) * 1000)
        figures[what] = statistics.median(times)
    app.extensions["mailer"].storage.close()
    return figures


def measure(work: Path) -> dict[str, dict[str, float]]:
    from tests.postgres import PostgresServer

    postgres = PostgresServer(work / "postgres-console")
    figures = {}
    try:
        for engine in ("sqlite", "postgresql"):
            location = (
                str(work / "console.sqlite3") if engine == "sqlite" else postgres.new_database()
            )
            now = time.time()
            storage = open_storage(location)
            started = time.perf_counter()
            populate(storage, now)
            storage.close()
            print(f"  console, {engine}: populated in {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
            figures[engine] = server_times(location, now)
    finally:
        postgres.close()
    return figures


def rows(figures: dict[str, dict[str, float]]) -> list[tuple[str, str, str, str]]:
    out = []
    for engine, times in figures.items():
        for what, _ in PAGES:
            goal = "≤ 200 ms" if what == "overview" else "≤ 100 ms" if "search" in what else "none"
            out.append(
                (
                    f"console, {what}, {engine}",
                    f"{MAILBOXES:,} mailboxes, {MESSAGES:,} messages; server time, median of {REPEATS}",
                    goal,
                    f"{times[what]:.1f} ms",
                )
            )
    return out
