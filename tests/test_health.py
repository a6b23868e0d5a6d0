"""Liveness beside readiness: health is about the process and its state store, not Zoho."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailer.config.settings import Settings
from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho


def test_health_is_200_while_not_connected_and_status_is_503(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    _, client = make_app(make_settings(fake_zoho))
    assert client.get("/api/email/health").get_json() == {"ok": True}
    status = client.get("/api/email/status")
    assert status.status_code == 503 and status.get_json()["ready"] is False


def test_an_unreachable_database_is_503_on_health_status_and_send_and_accepts_nothing(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(
        fake_zoho,
        db="postgresql://mailer@127.0.0.1:9/mailer",
        db_timeout_seconds=0.5,
        zoho_refresh_token=fake_zoho.issue_refresh_token(),
    )
    from mailer import create_app

    app = create_app(settings)  # creating the app touches no state
    client = app.test_client()
    health = client.get("/api/email/health")
    assert health.status_code == 503
    assert health.get_json()["ok"] is False
    assert health.get_json()["error"]["code"] == "state_unavailable"
    status = client.get("/api/email/status", headers=auth_header())
    assert status.status_code == 503 and status.get_json()["error"]["code"] == "state_unavailable"
    sent = client.post(
        "/api/email/send",
        json={"to": "a@example.com", "subject": "s", "text": "t"},
        headers=auth_header(),
    )
    assert sent.status_code == 503
    assert sent.get_json()["error"]["code"] == "state_unavailable"
    assert sent.headers["Retry-After"] == "2"
    app.extensions["mailer"].jobs.deliver()  # the timed work logs the outage and goes on
    app.extensions["mailer"].storage.close()
    assert fake_zoho.sent == [] and fake_zoho.token_calls == []
