"""The container image, built from the Dockerfile with podman and run as the contract says:
healthy, non-root, read-only but for /data and /tmp, a send to the fake Zoho on the host, a
``kill`` with messages queued and a new container on the same /data that delivers each once,
a stop within 30 s of SIGTERM. No Docker engine or registry is reachable here: the shared tools
prepare podman and a local Debian base with python3 (../shared/tools/container-env)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import API_KEY
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import ROOT, free_port, seeded_env

pytestmark = pytest.mark.slow

TOOLS = ROOT.parent / "shared" / "tools"
IMAGE = "localhost/zoho-mail-gateway-test"


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS / "podman"), *args], capture_output=True, text=True, timeout=timeout, check=check
    )


@pytest.fixture(scope="module")
def image() -> str:
    base = subprocess.run(
        [str(TOOLS / "container-env")], capture_output=True, text=True, timeout=900, check=True
    ).stdout.strip()
    started = time.monotonic()
    podman(
        "build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={base}",
        "-t", IMAGE, str(ROOT), timeout=900,
    )  # fmt: skip
    seconds = time.monotonic() - started
    size = int(podman("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
    base_size = int(podman("image", "inspect", base, "--format", "{{.Size}}").stdout)
    return (
        f"container image: built in {seconds:.0f} s on {base}; {(size - base_size) / 1e6:.0f} MB "
        f"over its base ({size / 1e6:.0f} MB in all)"
    )


@pytest.fixture
def containers() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        podman("rm", "-f", name, check=False)


def run(containers: list[str], volume: str, port: int, env: dict[str, str], *extra: str) -> str:
    name = f"mailer-test-{port}"
    settings = [f"--env={k}={v}" for k, v in {**env, "PORT": str(port)}.items()]
    podman(
        "run", "--detach", "--name", name, "--network", "host", "--read-only",
        "--tmpfs", "/tmp", "--volume", f"{volume}:/data", *settings, *extra, IMAGE,
    )  # fmt: skip
    containers.append(name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/email/health", timeout=2).ok:
                return name
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(podman("logs", name, check=False).stderr[-2000:])


def test_the_image_runs_as_the_contract_says(
    image: str,
    real_fake: FakeZoho,
    tmp_path: Path,
    containers: list[str],
    report: Callable[[str], None],
) -> None:
    report(image)
    volume = f"mailer-test-{free_port()}"
    podman("volume", "create", volume)
    try:
        env = seeded_env(real_fake, tmp_path, MAILER_LOG_LEVEL="INFO", ZOHO_RATE_LIMITS="1/hour")
        for local in ("MAILER_DB", "MAILER_OUTBOX_DIR"):
            env.pop(local, None)  # the image's own: the state in /data
        port = free_port()
        first = run(containers, volume, port, env)
        assert podman("healthcheck", "run", first).returncode == 0
        assert podman("exec", first, "id", "-u").stdout.strip() != "0"
        assert podman("exec", first, "touch", "/app/x", check=False).returncode != 0  # read-only
        url = f"http://127.0.0.1:{port}/api/email/send"
        auth = {"Authorization": f"Bearer {API_KEY}"}
        codes = [
            requests.post(
                url, json={"to": "paula@example.com", "subject": f"c{i}", "text": "hi"},
                headers=auth, timeout=10,
            ).status_code
            for i in range(3)
        ]  # fmt: skip
        assert codes == [200, 202, 202]  # the pace lets one out an hour: two wait in /data
        podman("kill", "--signal", "KILL", first)
        podman("rm", first)

        env["ZOHO_RATE_LIMITS"] = "off"
        port = free_port()
        second = run(containers, volume, port, env)
        deadline = time.monotonic() + 30
        while len(real_fake.sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(m["subject"] for m in real_fake.sent) == ["c0", "c1", "c2"]  # each once

        started = time.monotonic()
        podman("stop", "--time", "30", second)
        assert time.monotonic() - started < 30
        assert podman("inspect", second, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"
    finally:
        for name in containers:
            podman("rm", "-f", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)
