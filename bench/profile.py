"""Where an accept's time goes: `make profile` (or `python -m bench.profile`) serves the gateway
under gunicorn (production defaults) with the pace holding every message, drives it with wrk
(16 connections), records each worker with py-spy (only threads that hold the GIL: where the
CPU goes) and prints the functions that take the largest shares, inclusive and by themselves.

    python -m bench.profile [--engine sqlite|postgresql] [--seconds 8] [--connections 16]
"""

from __future__ import annotations

import argparse
import collections
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.drive import BEARER, SEND, gateway, wrk
from tests.fake_zoho import FakeZoho
from tests.postgres import PostgresServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="mailer-profile-"))
    fake = FakeZoho(expires_in=3600).start()
    fake.token_limit = None
    postgres = PostgresServer(work / "postgres") if args.engine == "postgresql" else None
    db = {"MAILER_DB": postgres.new_database()} if postgres else {}
    try:
        server = gateway(fake, work, "profile", ZOHO_RATE_LIMITS="1/hour", **db)
        outputs = [work / f"{pid}.txt" for pid in server.worker_pids()]
        spies = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    out.stem,
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--gil",
                    "--nonblocking",
                    "--duration",
                    str(args.seconds),
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for out in outputs
        ]
        time.sleep(0.5)
        load = wrk(
            f"{server.url}/api/email/send",
            SEND,
            BEARER["Authorization"],
            connections=args.connections,
            seconds=args.seconds,
        )
        for process in spies:
            process.wait()
        server.stop()
    finally:
        fake.stop()
        if postgres:
            postgres.close()
    print(f"wrk: {load['rps']:.0f} accepts/s, p50 {load['p50']:.1f} ms, p99 {load['p99']:.1f} ms")
    report(outputs, args.top)
    shutil.rmtree(work, ignore_errors=True)


def report(outputs: list[Path], top: int) -> None:
    alone: collections.Counter[str] = collections.Counter()
    within: collections.Counter[str] = collections.Counter()
    total = 0
    for out in outputs:
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            total += int(count)
            alone[frames[-1]] += int(count)
            for frame in set(frames):
                within[frame] += int(count)
    print(f"{total} samples with the GIL held, over {len(outputs)} workers")
    print("inclusive:")
    for frame, count in within.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print("by itself:")
    for frame, count in alone.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
