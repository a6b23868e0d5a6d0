"""The gateway's benchmark: `make bench` (or `python -m bench`) prints the table of figures.

It starts the fake Zoho (with an answer delay) and the gateway under gunicorn with the
production gunicorn.conf.py, drives load with wrk, and measures each figure side by side with
its baseline in the same run, several times; the medians are printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bounce_poll, console, mailboxes, send_api, smtp_ingress, toggles  # noqa: E402
from bench.drive import (  # noqa: E402
    BEARER,
    SEND,
    UNREACHED,
    gateway,
    worker_rss_mb,
    wrk,
)
from bench.engines import engines  # noqa: E402
from bench.load import burst, calls_per_100, renewals, throughput_and_latency  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="wrk runs per figure (medians)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument(
        "--only",
        choices=[
            "load",
            "engines",
            "mailboxes",
            "metrics",
            "back-pressure",
            "send-api",
            "smtp",
            "bounce-poll",
            "console",
        ],
        help="measure only that group of figures",
    )
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake's access log
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (`apt-get install wrk`; `make bench` does it)")
    work = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    print(
        f"# {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        flush=True,
    )
    bounce_rows = (
        bounce_poll.rows(bounce_poll.measure(work)) if args.only in (None, "bounce-poll") else []
    )
    if args.only == "bounce-poll":
        print_table(bounce_rows)
        return
    console_rows = console.rows(console.measure(work)) if args.only in (None, "console") else []
    if args.only == "console":
        print_table(console_rows)
        return
    many = mailboxes.measure(work, worker_rss_mb) if args.only in (None, "mailboxes") else {}
    mailbox_rows = [
        (
            f"a renewal sweep pass that finds nothing due, {engine}",
            f"{mailboxes.MAILBOXES:,} mailboxes, median of 500 passes",
            "≤ 20 ms",
            f"{many[f'sweep_{engine}']:.2f} ms",
        )
        for engine in ("sqlite", "postgresql")
        if many
    ] + [
        (
            "resident memory per worker, many mailboxes",
            f"{mailboxes.MAILBOXES:,} mailboxes listed, {mailboxes.SENDING:,} of them sending",
            "≤ 80 MB",
            f"max {many['memory']['after']:.1f} MB ("
            + ", ".join(f"{r:.1f}" for r in many["memory"]["all"])
            + f"; {many['memory']['before']:.1f} MB before)",
        )
        for _ in [0]
        if many
    ]
    if args.only == "mailboxes":
        print_table(mailbox_rows)
        return
    # Each switch measured side by side with itself off: (group, measure, figure, workload, goal).
    toggled = [
        (
            "metrics",
            toggles.metrics_ratio,
            "durable accept rate, metrics on ÷ off",
            "SQLite, 16 connections, the pace holds every message",
            "≥ 0.95",
        ),
        (
            "back-pressure",
            toggles.back_pressure_ratio,
            "durable accept rate, back-pressure checks on ÷ off",
            "SQLite, 16 connections, the pace holds every message (the queue grows)",
            "≥ 0.9",
        ),
    ]
    metrics_rows = []
    for group, measure, figure, workload, goal in toggled:
        if args.only not in (None, group):
            continue
        cost = measure(
            work,
            args.runs,
            args.seconds,
            gateway=gateway,
            wrk=wrk,
            send=SEND,
            bearer=BEARER["Authorization"],
        )
        ratio = f"{cost['ratio']:.2f} ({cost['on']:.0f} vs {cost['off']:.0f} req/s)"
        metrics_rows.append((figure, workload, goal, ratio))
        if args.only == group:
            print_table(metrics_rows)
            return
    send_api_rows = (
        send_api_figures(work, args.runs, args.seconds) if args.only in (None, "send-api") else []
    )
    if args.only == "send-api":
        print_table(send_api_rows)
        return
    smtp_rows = smtp_figures(work, args.runs, args.seconds) if args.only in (None, "smtp") else []
    if args.only == "smtp":
        print_table(smtp_rows)
        return
    state = engines(work, args.runs, args.seconds)
    engine_rows = (
        [
            (
                f"durable accept rate ÷ a bare Flask view, {engine}",
                "16 connections, the pace holds every message (202 after the commit); runs where"
                " one gunicorn worker took every connection run again",
                "≥ 0.7" if engine == "sqlite" else "≥ 0.5",
                f"{f['ratio']:.2f} ({f['accept']:.0f} vs {f['bare']:.0f} req/s; "
                f"{f['tries']:.0f} runs again)",
            )
            for engine, f in state.items()
        ]
        + [
            (
                f"durable accept rate with an Idempotency-Key ÷ without, {engine}",
                "as above, each request with a key of its own",
                "none",
                f"{f['keyed']:.2f} ({f['keyed_rps']:.0f} vs {f['accept']:.0f} req/s)",
            )
            for engine, f in state.items()
        ]
        + [
            (
                f"added median latency of a send, {engine}",
                "1 connection, fake answers at once",
                "≤ 1 ms" if engine == "sqlite" else "none",
                f"{f['added']:.2f} ms",
            )
            for engine, f in state.items()
        ]
        + [
            (
                f"added median latency of a send, the pace on, {engine}",
                f"as above, ZOHO_RATE_LIMITS={UNREACHED} (every send inline)",
                "none",
                f"{f['added_paced']:.2f} ms",
            )
            for engine, f in state.items()
        ]
    )
    if args.only == "engines":
        print_table(engine_rows)
        return
    load = throughput_and_latency(work, args.runs, args.seconds)
    if args.only == "load":
        print({k: v for k, v in load.items() if k != "rss_all"})
        return
    calls = calls_per_100(work)
    renew = renewals(work, restarts=10, lifetime_seconds=3, observe_seconds=30)
    spike = burst(work, 500)
    rows = [
        (
            "throughput through the gateway ÷ straight to the fake",
            "16 connections, fake answers after 100 ms, pacing off",
            "≥ 0.9",
            f"{load['ratio']:.2f} ({load['gw_rps']:.0f} vs {load['direct_rps']:.0f} req/s)",
        ),
        (
            "added median / p99 latency",
            "1 connection, fake answers at once",
            "median ≤ 2 ms",
            f"{load['added_p50']:.2f} ms / {load['added_p99']:.2f} ms "
            f"(gateway {load['gw_p50']:.2f} ms, fake {load['direct_p50']:.2f} ms)",
        ),
        (
            "calls to Zoho per 100 messages",
            "mixed sends, 10% with an attachment",
            "100 sends + 10 uploads, ≤ 1 renewal",
            f"{calls['send']} sends + {calls['upload']} uploads + {calls['accounts']} look-ups + "
            f"{calls['token']} renewals",
        ),
        (
            "renewals",
            "4 workers, 10 restarts, then compressed lifetimes",
            "1 per lifetime, 0 per restart",
            f"{renew['per_restart']:.1f} per restart; {renew['renewals']} in "
            f"{renew['lifetimes']:.0f} lifetimes",
        ),
        (
            "resident memory per worker",
            "after the load",
            "≤ 60 MB",
            f"max {load['rss_max']:.1f} MB ("
            + ", ".join(f"{r:.1f}" for r in load["rss_all"])
            + ")",
        ),
        (
            "burst",
            f"{spike['count']} sends at once, default pacing (30/minute)",
            "all accepted within 10 s; no second above the limit; nothing lost",
            f"{spike['accepted']} accepted in {spike['accepted_seconds']:.1f} s "
            f"({spike['sent_inline']} sent inline); busiest minute at the fake "
            f"{spike['busiest_minute']}; {spike['stored_or_sent']} stored or sent",
        ),
    ]
    print(
        f"\nmedians of {load['runs']} runs of {args.seconds} s each; "
        f"non-2xx answers under load: {load['errors']:.0f}\n"
    )
    print_table(
        rows
        + engine_rows
        + mailbox_rows
        + metrics_rows
        + send_api_rows
        + smtp_rows
        + bounce_rows
        + console_rows
    )
    shutil.rmtree(work, ignore_errors=True)


def send_api_figures(work: Path, runs: int, seconds: int) -> list[tuple[str, str, str, str]]:
    """The list's medians at 1,000,000 messages per engine; webhooks on ÷ off."""
    from tests.postgres import PostgresServer

    postgres = PostgresServer(work / "postgres-list")
    try:
        lists = {
            engine: send_api.list_medians(
                work,
                gateway=gateway,
                bearer=BEARER["Authorization"],
                engine=engine,
                db_url=None if engine == "sqlite" else postgres.new_database(),
            )
            for engine in ("sqlite", "postgresql")
        }
    finally:
        postgres.close()
    hooks = toggles.webhooks_ratio(
        work, runs, seconds, gateway=gateway, wrk=wrk, send=SEND, bearer=BEARER["Authorization"]
    )
    rows = [
        (
            f"GET /api/email/messages, median, {engine}",
            f"{send_api.STORED:,} stored, limit 50, 1 connection",
            "≤ 20 ms",
            "; ".join(f"{kind} {ms:.1f} ms" for kind, ms in found.items()),
        )
        for engine, found in lists.items()
    ]
    rows.append(
        (
            "send rate, webhooks on ÷ off",
            "SQLite, 16 connections, pacing off, each send a message.sent event",
            "≥ 0.9",
            f"{hooks['ratio']:.2f} ({hooks['on']:.0f} vs {hooks['off']:.0f} req/s)",
        )
    )
    return rows


def smtp_figures(work: Path, runs: int, seconds: int) -> list[tuple[str, str, str, str]]:
    """Messages a second accepted over SMTP ÷ over HTTP, 8 clients each."""
    rate = smtp_ingress.smtp_vs_http(
        work, runs, seconds, gateway=gateway, wrk=wrk, send=SEND, bearer=BEARER["Authorization"]
    )
    return [
        (
            "accept rate over SMTP ÷ over HTTP",
            f"SQLite, {smtp_ingress.CLIENTS} clients each (SMTP: a session each, one "
            "transaction a message), the pace holds every message",
            "≥ 0.5",
            f"{rate['ratio']:.2f} ({rate['smtp']:.0f} vs {rate['http']:.0f} messages/s; the "
            f"same clients against a bare aiosmtpd that stores nothing: {rate['bare']:.0f}/s)",
        )
    ]


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    print("| figure | workload | goal | measured |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
