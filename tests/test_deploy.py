"""The deployment recipes, started for real: the Procfile under honcho (web and release), and
the systemd unit checked by systemd-analyze."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.gunicorn_server import ROOT, free_port

HONCHO = str(Path(sys.executable).with_name("honcho"))


def honcho(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """honcho on the project's Procfile, with a clean environment and an empty env file."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "MAILER_DB": str(tmp_path / "state" / "mailer.sqlite3"),
        "MAILER_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    return subprocess.Popen(
        [HONCHO, "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "-e", str(empty), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_the_procfile_release_migrates_and_web_serves_on_port(tmp_path: Path) -> None:
    release = honcho(tmp_path, "start", "release")
    output, _ = release.communicate(timeout=60)
    assert release.returncode == 0, output
    assert "applied 0001_initial" in output

    port = free_port()
    web = honcho(tmp_path, "start", "-p", str(port), "web")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/api/email/health", timeout=2)
                break
            except requests.ConnectionError:
                assert web.poll() is None and time.monotonic() < deadline, "web did not serve"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"ok": True}
        sent = requests.post(
            f"http://127.0.0.1:{port}/api/email/send",
            json={"to": "ann@example.com", "subject": "Hi", "text": "dry run"},
            timeout=10,
        )
        assert sent.status_code == 200 and sent.json()["dry_run"] is True
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        output, _ = web.communicate(timeout=40)
    assert "Listening at: http://0.0.0.0:" in output


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze checks the unit's syntax, options and that its commands exist: the
    unit is installed as it would be, with /opt/mailer pointing at this checkout."""
    unit = (ROOT / "deploy" / "mailer.service").read_text()
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.read_string(unit)
    assert parsed["Service"]["ExecStart"] == "/opt/mailer/.venv/bin/gunicorn wsgi:app"
    assert parsed["Service"]["NoNewPrivileges"] == "true"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # a machine without systemd: the parse above is the check
        return
    here = tmp_path / "mailer.service"
    here.write_text(unit.replace("/opt/mailer", str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", str(here)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "mailer.service" not in result.stderr, result.stderr
