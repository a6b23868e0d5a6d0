"""MAILER_LOG_FORMAT=json under gunicorn: every line, gunicorn's own included, is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start

pytestmark = pytest.mark.slow


def test_every_line_is_json_with_time_level_event_and_message(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(real_fake, tmp_path, MAILER_LOG_FORMAT="json", MAILER_LOG_LEVEL="INFO")
    server = start(servers, env, tmp_path)
    sent = requests.post(
        f"{server.url}/api/email/send",
        json={"to": "paula@example.com", "subject": "Hello", "text": "hi"},
        headers={**auth_header(), "X-Request-ID": "req-json-1"},
        timeout=10,
    )
    assert sent.status_code == 200
    server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    for record in records:
        assert {"time", "level", "event", "message"} <= set(record), record
        assert record["time"].endswith("Z")
    events = {r["event"] for r in records}
    assert {"send", "delivered"} <= events
    assert any("Booting worker" in r["message"] for r in records)  # gunicorn's own line
    send = next(r for r in records if r["event"] == "send")
    assert send["request_id"] == "req-json-1" and send["outcome"] == "sent"
    assert send["message_id"] == sent.json()["id"] and send["status"] == 200
    assert "paula@example.com" not in "\n".join(lines)  # no address in any line


def test_an_unknown_log_format_stops_the_start(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    server = start(
        servers,
        seeded_env(real_fake, tmp_path, MAILER_LOG_FORMAT="yaml"),
        tmp_path,
        wait_ready=False,
    )
    assert server.process is not None
    assert server.process.wait(timeout=60) != 0
    assert "MAILER_LOG_FORMAT" in server.log()
