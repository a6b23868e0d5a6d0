"""What a send carries besides the message: send_at (held until then, cancelable), tags and
metadata (kept, shown, filtered on), and a daily ceiling in ZOHO_RATE_LIMITS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from mailer.runtime.pacing import RateLimit
from tests.conftest import MESSAGE, FakeClock, auth_header
from tests.fake_zoho import FakeZoho


def at(clock: FakeClock, seconds: float, offset_hours: int = 0) -> str:
    """RFC 3339 for ``seconds`` from now on the fake clock, at a UTC offset."""
    zone = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(clock.now() + seconds, zone).isoformat()


def test_a_scheduled_message_waits_until_its_time_then_goes(
    connected: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    app, client, fake = connected
    answer = client.post(
        "/api/email/send", json={**MESSAGE, "send_at": at(clock, 3600, 2)}, headers=auth_header()
    )
    assert answer.status_code == 202
    assert answer.get_json()["status"] == "scheduled"
    message_id = answer.get_json()["id"]
    view = client.get(f"/api/email/messages/{message_id}", headers=auth_header()).get_json()
    assert view["status"] == "scheduled"
    assert view["send_at"] == datetime.fromtimestamp(clock.now() + 3600, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    clock.advance(3599)
    app.extensions["mailer"].jobs.deliver()
    assert fake.sent == []
    clock.advance(1)
    app.extensions["mailer"].jobs.deliver()
    assert len(fake.sent) == 1
    view = client.get(f"/api/email/messages/{message_id}", headers=auth_header()).get_json()
    assert view["status"] == "sent"


def test_a_scheduled_message_can_be_canceled_and_then_never_goes(
    connected: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    app, client, fake = connected
    message_id = client.post(
        "/api/email/send", json={**MESSAGE, "send_at": at(clock, 60)}, headers=auth_header()
    ).get_json()["id"]
    assert client.delete(f"/api/email/messages/{message_id}", headers=auth_header()).json == {
        "id": message_id,
        "status": "canceled",
    }
    clock.advance(120)
    app.extensions["mailer"].jobs.deliver()
    assert fake.sent == []


@pytest.mark.parametrize(
    ("send_at", "code"),
    [
        ("2026-12-01T09:00:00", "invalid_send_at"),  # no offset
        ("tomorrow at nine", "invalid_send_at"),
        ("2026-02-30T09:00:00Z", "invalid_send_at"),
        (-3600, "send_at_in_the_past"),
        (31 * 86400, "send_at_too_far"),
        (7, "invalid_send_at"),  # a number is no time
    ],
)
def test_bad_send_at_is_400_on_send_at_and_stores_nothing(
    connected: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock, send_at: Any, code: str
) -> None:
    _, client, _ = connected
    if isinstance(send_at, int) and code != "invalid_send_at":
        send_at = at(clock, send_at)
    answer = client.post(
        "/api/email/send", json={**MESSAGE, "send_at": send_at}, headers=auth_header()
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code
    assert answer.get_json()["error"]["field"] == "send_at"
    assert client.get("/api/email/messages", headers=auth_header()).json["messages"] == []


def test_tags_and_metadata_are_kept_shown_and_filtered_on(
    connected: tuple[Flask, FlaskClient, FakeZoho],
) -> None:
    _, client, fake = connected
    tagged = client.post(
        "/api/email/send",
        json={**MESSAGE, "tags": ["invoice", "order-42"], "metadata": {"order": "42"}},
        headers=auth_header(),
    ).get_json()
    client.post("/api/email/send", json={**MESSAGE, "tags": ["newsletter"]}, headers=auth_header())
    view = client.get(f"/api/email/messages/{tagged['id']}", headers=auth_header()).get_json()
    assert view["tags"] == ["invoice", "order-42"]
    assert view["metadata"] == {"order": "42"}
    assert view["source"] == "http"
    found = client.get("/api/email/messages?tag=order-42", headers=auth_header()).get_json()
    assert [m["id"] for m in found["messages"]] == [tagged["id"]]
    # Neither reaches Zoho: its API takes no such fields.
    assert all("tags" not in body and "metadata" not in body for body in fake.sent)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"tags": "invoice"}, "invalid_tags"),
        ({"tags": [f"t{i}" for i in range(11)]}, "invalid_tags"),
        ({"tags": ["has space"]}, "invalid_tag"),
        ({"tags": ["x" * 65]}, "invalid_tag"),
        ({"metadata": ["a"]}, "invalid_metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "invalid_metadata"),
        ({"metadata": {"k" * 41: "v"}}, "invalid_metadata"),
        ({"metadata": {"k": "v" * 501}}, "invalid_metadata"),
        ({"metadata": {"k": 1}}, "invalid_metadata"),
    ],
)
def test_bad_tags_and_metadata_are_400(
    connected: tuple[Flask, FlaskClient, FakeZoho], extra: dict[str, Any], code: str
) -> None:
    _, client, fake = connected
    answer = client.post("/api/email/send", json={**MESSAGE, **extra}, headers=auth_header())
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code
    assert fake.sent == []


def test_a_daily_ceiling_holds_the_rest_of_the_day(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    clock: FakeClock,
) -> None:
    settings = make_settings(
        fake_zoho,
        zoho_refresh_token=fake_zoho.issue_refresh_token(),
        rate_limits=(RateLimit(2, 86400),),
    )
    app, client = make_app(settings)
    statuses = [
        client.post("/api/email/send", json=MESSAGE, headers=auth_header()).get_json()["status"]
        for _ in range(3)
    ]
    assert statuses == ["sent", "sent", "queued"]
    clock.advance(23 * 3600)
    app.extensions["mailer"].jobs.deliver()
    assert len(fake_zoho.sent) == 2
    clock.advance(4 * 3600)  # the day (widened by the pacing margin) has passed
    app.extensions["mailer"].jobs.deliver()
    assert len(fake_zoho.sent) == 3
