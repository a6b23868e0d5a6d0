"""Store and forward on a fake clock: persist first, pacing, pauses, retries, leases, retention."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from mailer.runtime.pacing import RateLimit
from mailer.sending.back_pressure import RefusalReports
from mailer.sending.delivery_policy import DeliveryPolicy
from mailer.sending.outbox import Outbox
from mailer.storage.records import Attachment
from tests.conftest import MESSAGE, FakeClock, auth_header, send
from tests.fake_zoho import FakeZoho


@pytest.fixture
def paced(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> Callable[..., tuple[Flask, FlaskClient]]:
    """A connected gateway with the given pacing; its startup done and its account known."""

    def build(*limits: RateLimit, **overrides: Any) -> tuple[Flask, FlaskClient]:
        settings = make_settings(
            fake_zoho,
            zoho_refresh_token=fake_zoho.issue_refresh_token(),
            zoho_account_id="2560636000000008002",
            rate_limits=limits,
            **overrides,
        )
        app, client = make_app(settings)
        app.extensions["mailer"].jobs.startup()
        app.extensions["mailer"].transport.account()  # looked up once, before the test begins
        return app, client

    return build


def view(client: FlaskClient, message_id: str) -> dict[str, Any]:
    response = client.get(f"/api/email/messages/{message_id}", headers=auth_header())
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def most_in_any_window(times: list[float], window: float) -> int:
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


def test_a_message_is_stored_before_zoho_is_called(
    paced: Callable[..., Any], fake_zoho: FakeZoho
) -> None:
    app, client = paced()
    fake_zoho.mail_down = True
    pdf = base64.b64encode(b"%PDF").decode()
    response = send(client, {**MESSAGE, "attachments": [{"filename": "a.pdf", "content": pdf}]})
    assert response.status_code == 202
    stored = app.extensions["mailer"].storage.messages.get(response.get_json()["id"])
    assert stored.status == "queued" and stored.payload["to"] == ["paula@example.com"]
    assert stored.attachments == (Attachment("a.pdf", "application/octet-stream", b"%PDF"),)
    assert stored.calls == 2


def calls_made(app: Flask) -> list[float]:
    with app.extensions["mailer"].storage.database.read() as tx:
        return [row["at"] for row in tx.rows("SELECT at FROM mail_calls ORDER BY at")]


def test_an_inline_sends_permit_is_taken_with_the_message(
    paced: Callable[..., Any], fake_zoho: FakeZoho
) -> None:
    app, client = paced(RateLimit(5, 60))
    response = send(client, MESSAGE)
    assert response.status_code == 200 and len(fake_zoho.sent) == 1
    stored = app.extensions["mailer"].storage.messages.get(response.get_json()["id"])
    assert calls_made(app) == [stored.created_at]  # the accept's time: its transaction


def test_an_inline_send_stored_too_late_for_its_permit_goes_to_the_delivery_loop(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced(RateLimit(2, 60))
    clock.step = 0.2  # a slow machine: each reading of the clock 0.2 s after the one before
    response = send(client, MESSAGE)
    clock.step = 0.0
    assert response.status_code == 202 and fake_zoho.sent == []
    assert len(calls_made(app)) == 1  # its permit is spent: the pace only slows
    app.extensions["mailer"].jobs.deliver()
    assert len(fake_zoho.sent) == 1 and len(calls_made(app)) == 2
    assert view(client, response.get_json()["id"])["status"] == "sent"


def test_a_burst_is_paced_across_workers_and_delivered_completely(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced(RateLimit(5, 1))
    answers = [send(client, {**MESSAGE, "subject": f"n{i}"}) for i in range(40)]
    assert [a.status_code for a in answers].count(200) == 5
    assert [a.status_code for a in answers].count(202) == 35
    storage = app.extensions["mailer"].storage
    second_worker = Outbox(
        mailbox="default",
        messages=storage.messages,
        ledger=storage.ledger,
        transport=app.extensions["mailer"].transport,
        clock=clock,
        policy=DeliveryPolicy(),
        limits=(RateLimit(5, 1),),
        admissions=storage.admissions,
        refusals=RefusalReports(storage.admissions, storage.suppressions, clock),
    )
    for _ in range(20):
        app.extensions["mailer"].jobs.deliver()
        second_worker.deliver_due()
        clock.advance(0.3)
    assert sorted(s["subject"] for s in fake_zoho.sent) == sorted(f"n{i}" for i in range(40))
    sends = [c.at for c in fake_zoho.mail_calls if c.path.endswith("/messages")]
    assert most_in_any_window(sends, 1.0) <= 5


def test_uploads_count_against_the_pace(paced: Callable[..., Any], fake_zoho: FakeZoho) -> None:
    _, client = paced(RateLimit(3, 60))
    pdf = base64.b64encode(b"%PDF").decode()
    with_file = {**MESSAGE, "attachments": [{"filename": "a.pdf", "content": pdf}]}
    assert send(client, with_file).status_code == 200  # two calls: upload and send
    assert send(client).status_code == 200  # the third call
    assert send(client).status_code == 202
    assert len([c for c in fake_zoho.mail_calls if c.path != "/api/accounts"]) == 3


def test_several_limits_all_hold(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced(RateLimit(20, 60), RateLimit(30, 3600))
    for i in range(40):
        send(client, {**MESSAGE, "subject": f"n{i}"})
    for _ in range(200):
        app.extensions["mailer"].jobs.deliver()
        clock.advance(10)
    times = [c.at for c in fake_zoho.mail_calls if c.path.endswith("/messages")]
    assert most_in_any_window(times, 60) <= 20
    assert most_in_any_window(times, 3600) <= 30
    assert len(times) >= 30


def test_a_throttled_mailbox_pauses_and_no_message_fails_for_it(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced()
    fake_zoho.mail_failures.append("throttle")
    first = send(client)
    assert first.status_code == 202
    assert send(client).status_code == 202  # paused: not even tried
    assert len([c for c in fake_zoho.mail_calls if c.path.endswith("/messages")]) == 1
    status = client.get("/api/email/status", headers=auth_header()).get_json()
    assert status["paused_until"] is not None and status["queue_depth"] == 2
    clock.advance(59)
    app.extensions["mailer"].jobs.deliver()
    assert fake_zoho.sent == []
    clock.advance(2)
    app.extensions["mailer"].jobs.deliver()
    assert len(fake_zoho.sent) == 2
    assert view(client, first.get_json()["id"])["attempts"] == 1  # the throttled try did not count


def test_transient_failures_retry_with_back_off_then_fail_after_max_attempts(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced(max_attempts=4)
    fake_zoho.mail_down = True
    message_id = send(client).get_json()["id"]
    attempt_times = []
    for _ in range(2000):
        clock.advance(5)
        before = len(fake_zoho.mail_calls)
        app.extensions["mailer"].jobs.deliver()
        if len(fake_zoho.mail_calls) > before:
            attempt_times.append(clock.now())
    final = view(client, message_id)
    assert final["status"] == "failed" and final["attempts"] == 4
    assert final["last_error"]["code"] == "zoho_unavailable"
    gaps = [b - a for a, b in itertools.pairwise(attempt_times)]
    # The inline attempt, then retries after 15-30 s, 30-60 s, 60-120 s (on a 5 s grid).
    assert len(attempt_times) == 3
    assert 30 <= gaps[0] <= 65 and 60 <= gaps[1] <= 125


def test_a_message_too_old_fails(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced(max_age_hours=1)
    fake_zoho.mail_down = True
    message_id = send(client).get_json()["id"]
    for _ in range(100):
        clock.advance(60)
        app.extensions["mailer"].jobs.deliver()
    final = view(client, message_id)
    assert final["status"] == "failed" and "too old" in final["last_error"]["message"]


def test_a_dead_workers_claim_lapses_and_the_message_goes_out(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    app, client = paced()
    fake_zoho.mail_down = True
    message_id = send(client).get_json()["id"]
    fake_zoho.mail_down = False
    clock.advance(31)
    # A worker claims it and dies before it can say how the attempt went.
    assert app.extensions["mailer"].storage.messages.claim_due(
        "default", now=clock.now(), owner="dead", leased_until=clock.now() + 9
    )
    app.extensions["mailer"].jobs.deliver()
    assert view(client, message_id)["status"] == "sending"
    clock.advance(10)
    app.extensions["mailer"].jobs.deliver()
    assert view(client, message_id)["status"] == "sent"


def test_status_reports_the_queue(
    paced: Callable[..., Any], fake_zoho: FakeZoho, clock: FakeClock
) -> None:
    _, client = paced()
    fake_zoho.mail_down = True
    send(client)
    clock.advance(42)
    send(client)
    status = client.get("/api/email/status", headers=auth_header()).get_json()
    assert status["queue_depth"] == 2 and status["oldest_queued_age_seconds"] == 42


def test_finished_messages_are_purged_after_the_retention_period(
    paced: Callable[..., Any], clock: FakeClock
) -> None:
    app, client = paced(retention_days=7)
    message_id = send(client).get_json()["id"]
    clock.advance(7 * 86400 - 10)
    app.extensions["mailer"].jobs.housekeeping()
    assert view(client, message_id)["status"] == "sent"
    clock.advance(20)
    app.extensions["mailer"].jobs.housekeeping()
    gone = client.get(f"/api/email/messages/{message_id}", headers=auth_header())
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "message_not_found"
