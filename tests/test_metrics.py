"""GET /metrics: the contract's metrics, summed over gunicorn's workers, and optionally keyed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from mailer.config import Settings, SettingsError, from_env
from tests.conftest import MESSAGE, auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start

METRICS_KEY = "test-metrics-key-42424242"


def value(text: str, sample: str) -> float:
    """A sample's value in Prometheus text, 0 when absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_carry_the_state_gauges_and_can_need_a_key(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), metrics_key=METRICS_KEY
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    assert client.get("/metrics").status_code == 401
    before = client.get("/metrics", headers=auth_header(METRICS_KEY)).get_data(as_text=True)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    text = client.get("/metrics", headers=auth_header(METRICS_KEY)).get_data(as_text=True)
    sent = 'mailer_messages_total{mailbox="default",status="sent"}'
    assert value(text, sent) == value(before, sent) + 1
    assert value(text, 'mailer_queue_depth{mailbox="default"}') == 0
    assert 3000 < value(text, 'mailer_token_seconds_left{mailbox="default"}') <= 3600
    assert 'mailer_zoho_calls_total{call="send",outcome="2xx"}' in text
    assert "mailer_http_request_duration_seconds_bucket" in text
    assert "paula@example.com" not in text


@pytest.mark.slow
def test_metrics_are_summed_over_the_workers(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    server = start(servers, seeded_env(real_fake, tmp_path), tmp_path, workers=2)
    sent = 0
    for _ in range(40):  # a fresh connection each time, until both workers have sent some
        assert (
            requests.post(
                f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
            ).status_code
            == 200
        )
        sent += 1
        pids = set(re.findall(r"\[(\d+)\] send request_id", server.log()))
        if len(pids) >= 2 and sent >= 6:
            break
    assert len(pids) >= 2, "every send went to one worker"
    for _ in range(3):  # any worker answers the scrape with the same sums
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        assert value(text, 'mailer_messages_total{mailbox="default",status="sent"}') == sent
        assert value(text, 'mailer_zoho_calls_total{call="send",outcome="2xx"}') == sent
        assert value(text, 'mailer_token_renewals_total{mailbox="default",outcome="renewed"}') == 1
        assert value(text, 'mailer_queue_depth{mailbox="default"}') == 0


def test_metrics_off_counts_nothing_and_has_no_endpoint(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    from mailer.runtime import metrics

    _, client = make_app(
        make_settings(fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), metrics=False)
    )
    before = metrics.MESSAGES.labels("default", "sent")._value.get()
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    assert metrics.MESSAGES.labels("default", "sent")._value.get() == before
    off = client.get("/metrics")
    assert off.status_code == 404 and off.get_json()["error"]["code"] == "metrics_off"
    assert from_env({"MAILER_METRICS": "off"}).metrics is False
    with pytest.raises(SettingsError, match="MAILER_METRICS"):
        from_env({"MAILER_METRICS": "maybe"})
