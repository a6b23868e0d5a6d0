"""Start the gateway under gunicorn (the production gunicorn.conf.py) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ADMIN_KEY, API_KEY
from tests.fake_zoho import ACCOUNT_ID, FakeZoho

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """One gunicorn master with N workers; its stderr is kept for log checks."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 3) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.workers_arg = True  # False: keep gunicorn.conf.py's number of workers

    def start(self, *, wait_ready: bool = True) -> Gunicorn:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{self.port}"
            + (f" --workers {self.workers}" if self.workers_arg else ""),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            cwd=self.log_path.parent,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, so kill_all reaches every worker
        )
        log.close()
        if wait_ready:
            self.wait_until(lambda: self._answers(), what="gunicorn to answer")
            self.wait_until(
                lambda: self.log().count("Booting worker") >= self.workers,
                what="every worker to boot",
            )
        return self

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/api/email/status", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def wait_until(self, condition: Any, *, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited while waiting for {what}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill_all(self) -> None:
        """``kill -9`` the master and every worker at once, as a crash or an OOM kill would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise AssertionError("gunicorn's workers outlived kill -9 of their group")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_pids(self) -> list[int]:
        """The pids of gunicorn's workers: the master's children."""
        assert self.process is not None
        pid = self.process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def env_for(fake: FakeZoho, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a gateway that talks to ``fake``, with its state under ``tmp_path``."""
    return {
        "ZOHO_CLIENT_ID": fake.client_id,
        "ZOHO_CLIENT_SECRET": fake.client_secret,
        "ZOHO_REDIRECT_URI": fake.redirect_uri,
        "ZOHO_ACCOUNTS_URL": fake.url,
        "ZOHO_API_DOMAIN": fake.url,
        "ZOHO_TIMEOUT_SECONDS": "2",
        "MAILER_API_KEYS": API_KEY,
        "MAILER_ADMIN_KEY": ADMIN_KEY,
        "MAILER_DB": str(tmp_path / "state" / "mailer.sqlite3"),
        "MAILER_LOG_LEVEL": "DEBUG",
        # Back-pressure has tests of its own; elsewhere it would refuse what a test repeats.
        "MAILER_ACCEPT_LIMITS": "off",
        "MAILER_MAX_QUEUED": "off",
        "MAILER_REPEAT_LIMIT": "off",
        **extra,
    }


def seeded_env(fake: FakeZoho, tmp_path: Path, **extra: str) -> dict[str, str]:
    """``env_for`` with a refresh token the fake knows and its account id: ready to send."""
    return env_for(
        fake,
        tmp_path,
        ZOHO_REFRESH_TOKEN=fake.issue_refresh_token(),
        ZOHO_ACCOUNT_ID=ACCOUNT_ID,
        **extra,
    )


def start(
    servers: list[Gunicorn],
    env: dict[str, str],
    tmp_path: Path,
    *,
    wait_ready: bool = True,
    **kwargs: Any,
) -> Gunicorn:
    """Start a gunicorn and add it to ``servers`` (the fixture that stops them and reads logs)."""
    server = Gunicorn(env, tmp_path / f"gunicorn-{len(servers)}.log", **kwargs)
    servers.append(server)
    return server.start(wait_ready=wait_ready)


def two_hosts(
    servers: list[Gunicorn], env: dict[str, str], tmp_path: Path
) -> tuple[Gunicorn, Gunicorn]:
    """Two gunicorn masters, each started from a directory of its own (sharing nothing but
    the database in ``env``), at once: they race for the migration and the first token."""
    hosts = []
    for name in ("host-a", "host-b"):
        directory = tmp_path / name
        directory.mkdir()
        hosts.append(start(servers, env, directory, wait_ready=False))
    for host in hosts:
        host.wait_until(host._answers, what="gunicorn to answer")
        host.wait_until(lambda h=host: h.log().count("Booting worker") >= 3, what="workers")
    return hosts[0], hosts[1]
