"""The list endpoint with 1,000,000 stored messages, per engine (the send API's second round;
what its webhooks cost is in toggles.py)."""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests

from bench.toggles import instant_fake

STORED = 1_000_000  # the warm-up message and 999,999 copies of it
REQUESTS = 200  # per kind of listing; the median is the figure
# Copies of the warm-up message: every 100th failed, every 50th queued, the rest sent; every
# 10th tagged "invoice", every 1,000th "audit"; created half a second apart.
_COPIES = """
    SELECT {id}, t.mailbox,
        CASE WHEN n.i % 100 = 0 THEN 'failed' WHEN n.i % 50 = 1 THEN 'queued' ELSE 'sent' END,
        t.payload, t.calls, 1, t.next_attempt_at, t.created_at - n.i * 0.5, t.updated_at
    FROM {numbers}, (SELECT * FROM messages LIMIT 1) AS t
"""
_INSERT = (
    "INSERT INTO messages (id, mailbox, status, payload, calls, attempts, "
    "next_attempt_at, created_at, updated_at) "
)
_TAGS = """
    INSERT INTO message_tags (message_id, mailbox, tag, created_at)
    SELECT id, mailbox, CASE WHEN {number} % 1000 = 0 THEN 'audit' ELSE 'invoice' END,
        created_at
    FROM messages WHERE id LIKE 'msg_bench%' AND {number} % 10 = 0
"""
SQLITE_FILL = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 999999) "
    + _INSERT
    + _COPIES.format(id="printf('msg_bench%07d', n.i)", numbers="n"),
    _TAGS.format(number="CAST(substr(id, 10) AS INTEGER)"),
)
POSTGRES_FILL = (
    _INSERT
    + _COPIES.format(
        id="'msg_bench' || lpad(n.i::text, 7, '0')", numbers="generate_series(1, 999999) AS n(i)"
    ),
    _TAGS.format(number="substr(id, 10)::int"),  # no parameters: % is not a placeholder
)


def _fill_sqlite(path: str) -> None:
    db = sqlite3.connect(path)
    with db:
        for statement in SQLITE_FILL:
            db.execute(statement)
    db.execute("ANALYZE")
    db.close()


def _fill_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET search_path TO mailer")
        for statement in POSTGRES_FILL:
            db.execute(statement)
        db.execute("ANALYZE")


def list_medians(
    work: Path, *, gateway: Callable[..., Any], bearer: str, engine: str, db_url: str | None
) -> dict[str, float]:
    """The median latency (ms, client side, keep-alive) of GET /api/email/messages over
    1,000,000 stored messages: the first page, a status, a common and a rare tag, page 100."""
    fake = instant_fake()
    env = {"ZOHO_RATE_LIMITS": "1/hour", **({"MAILER_DB": db_url} if db_url else {})}
    server = gateway(fake, work, f"list-{engine}", **env)  # its warm-up send is the template
    try:
        started = time.perf_counter()
        if db_url is None:
            _fill_sqlite(str(work / f"list-{engine}" / "state" / "mailer.sqlite3"))
        else:
            _fill_postgres(db_url)
        print(f"#   {engine}: {STORED:,} messages stored in {time.perf_counter() - started:.0f} s")
        session = requests.Session()
        session.headers["Authorization"] = bearer
        url = f"{server.url}/api/email/messages"
        deep = session.get(url, params={"limit": 500}, timeout=10).json()
        for _ in range(9):
            deep = session.get(url, params={"limit": 500, "cursor": deep["next_cursor"]}).json()
        kinds = {
            "first page": {},
            "status=failed": {"status": "failed"},
            "tag (every 10th)": {"tag": "invoice"},
            "tag (every 1,000th)": {"tag": "audit"},
            "page 100 (cursor)": {"cursor": deep["next_cursor"]},
        }
        medians = {}
        for kind, params in kinds.items():
            times = []
            for _ in range(REQUESTS):
                begin = time.perf_counter()
                answer = session.get(url, params=params, timeout=10)
                times.append((time.perf_counter() - begin) * 1000)
                assert answer.status_code == 200 and len(answer.json()["messages"]) == 50, kind
            medians[kind] = statistics.median(times)
        return medians
    finally:
        server.stop()
        fake.stop()
