"""What every benchmark drives with: wrk (and a run of it that both gunicorn workers shared),
the gateway under gunicorn against a fake Zoho, the bare Flask view it is compared with, and
the request they all answer."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import API_KEY
from tests.fake_zoho import ACCOUNT_ID, PRIMARY, FakeZoho
from tests.gunicorn_server import Gunicorn, env_for

ROOT = Path(__file__).resolve().parent.parent
LUA = str(Path(__file__).with_name("post.lua"))
BARE_PORT = 18765
BARE_URL = f"http://127.0.0.1:{BARE_PORT}/api/email/send"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
SEND = {"to": "paula@example.com", "subject": "Benchmark", "text": "hello from the benchmark"}
ZOHO_SEND = {
    "fromAddress": PRIMARY,
    "toAddress": "paula@example.com",
    "subject": "Benchmark",
    "content": "hello from the benchmark",
    "mailFormat": "plaintext",
}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
UNREACHED = "1000000/minute"  # a pace that no run reaches


def wrk(
    url: str,
    body: dict[str, Any],
    auth: str,
    *,
    connections: int,
    seconds: int,
    keyed: bool = False,
) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) of one wrk run (``keyed``: each
    request with an Idempotency-Key of its own)."""
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA, url],
        env={
            **os.environ,
            "BENCH_BODY": json.dumps(body),
            "BENCH_AUTH": auth,
            "BENCH_KEY": "1" if keyed else "",
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


# gunicorn's workers race to accept wrk's connections, opened at once, and one worker often wins
# them all: such a run measures one process of the two, at about a third of the rate of a run
# where both work. It is run again, up to BALANCE_TRIES times in all.
BALANCE_TRIES = 6
BALANCED_SHARE = 0.3  # the least share of the workers' CPU time each worker must have used
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def balanced_wrk(
    master_pid: int,
    url: str,
    body: dict[str, Any],
    auth: str,
    *,
    connections: int,
    seconds: int,
    keyed: bool = False,
) -> dict[str, float]:
    """``wrk`` against the gunicorn whose master is ``master_pid``, until its workers shared
    the load (``tries``: the runs it took; the last one's figures)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    workers = [int(pid) for pid in children]
    tries = 0
    while True:
        tries += 1
        before = [_cpu_seconds(pid) for pid in workers]
        figures = wrk(url, body, auth, connections=connections, seconds=seconds, keyed=keyed)
        used = [_cpu_seconds(pid) - b for pid, b in zip(workers, before, strict=True)]
        if min(used) >= BALANCED_SHARE * sum(used) or tries == BALANCE_TRIES:
            return {**figures, "tries": float(tries)}


def access_token(fake: FakeZoho) -> str:
    reply = requests.post(
        f"{fake.url}/oauth/v2/token",
        timeout=5,
        data={
            "grant_type": "refresh_token",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": fake.issue_refresh_token(),
        },
    )
    return str(reply.json()["access_token"])


def gateway(
    fake: FakeZoho, work: Path, name: str, workers: int | None = None, **env: str
) -> Gunicorn:
    settings = env_for(
        fake,
        work / name,
        ZOHO_REFRESH_TOKEN=fake.issue_refresh_token(),
        ZOHO_ACCOUNT_ID=ACCOUNT_ID,
        MAILER_LOG_LEVEL="WARNING",
        **env,
    )
    (work / name).mkdir(parents=True, exist_ok=True)
    server = Gunicorn(settings, work / name / "gunicorn.log", workers=workers or 2)
    if workers is None:  # the production default from gunicorn.conf.py
        server.workers_arg = False
    server.start()
    requests.post(f"{server.url}/api/email/send", json=SEND, headers=BEARER, timeout=10)
    return server


def worker_rss_mb(server: Gunicorn) -> list[float]:
    assert server.process is not None
    children = (
        Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    )
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        sizes.append(kb / 1024)
    return sizes


def bare_view(work: Path) -> subprocess.Popen[bytes]:
    """bench/bare_app.py under the production gunicorn settings, without the gateway's hooks."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    bare_conf = work / "bare.conf.py"  # not the gateway's hooks, which this app has no use for
    bare_conf.write_text("control_socket_disable = True\n")
    args = [
        f"--config={bare_conf}",
        f"--worker-class={conf['worker_class']}",
        f"--workers={conf['workers']}",
        f"--threads={conf['threads']}",
        f"--keep-alive={conf['keepalive']}",
        f"--bind=127.0.0.1:{BARE_PORT}",
    ]
    log = (work / "bare.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args, "bench.bare_app:app"],
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    for _ in range(200):
        try:
            requests.post(f"http://127.0.0.1:{BARE_PORT}/api/email/send", json=SEND, timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("the bare view did not start")
