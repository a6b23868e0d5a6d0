"""Back-pressure on both engines: accept limits, the queue cap and the repeat guard refuse with
429 (and the SMTP codes), tell the client when to come back, and store, count and send nothing
they refuse; an Idempotency-Key replay is no repeat."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from mailer.runtime.pacing import RateLimit
from tests.conftest import MESSAGE, FakeClock, admin_header, auth_header, plain
from tests.fake_zoho import FakeZoho
from tests.test_smtp import login, smtp_gateway  # noqa: F401 - the SMTP listener fixture

Gateway = tuple[Flask, FlaskClient, FakeZoho]
HELD = (RateLimit(1, 3600),)  # the pace lets one message out an hour: the rest wait, queued


@pytest.fixture
def start(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> Callable[..., Gateway]:
    def build(**overrides: Any) -> Gateway:
        settings = make_settings(
            fake_zoho,
            zoho_refresh_token=fake_zoho.issue_refresh_token(),
            db=state_location,
            **overrides,
        )
        app, client = make_app(settings)
        app.extensions["mailer"].jobs.startup()
        return app, client, fake_zoho

    return build


def send(client: FlaskClient, subject: str, **headers: str) -> Any:
    return client.post(
        "/api/email/send",
        json={**MESSAGE, "subject": subject},
        headers={**auth_header(), **headers},
    )


def stored(app: Flask) -> int:
    with app.extensions["mailer"].storage.database.read() as tx:
        row = tx.row("SELECT count(*) AS n FROM messages")
    assert row is not None
    return int(row["n"])


def test_accept_limits_let_exactly_the_limit_in_then_429_until_the_window_moves(
    start: Callable[..., Gateway], clock: FakeClock
) -> None:
    app, client, fake = start(accept_limits=(RateLimit(20, 60),))
    answers = []
    for i in range(30):
        answers.append(send(client, f"n{i}"))
        clock.advance(0.1)
    assert [a.status_code for a in answers] == [200] * 20 + [429] * 10
    refused = answers[-1]
    assert refused.json["error"]["code"] == "rate_limited"
    wait = int(refused.headers["Retry-After"])
    assert 55 <= wait <= 60
    assert stored(app) == 20 and len(fake.sent) == 20  # nothing refused was stored or sent
    clock.advance(wait - 1)
    assert send(client, "too soon").status_code == 429
    clock.advance(1)
    assert send(client, "after the wait").status_code == 200
    assert 'mailer_accept_refused_total{mailbox="default",reason="rate_limited"}' in (
        client.get("/metrics").text
    )
    view = client.get("/api/email/mailboxes/default", headers=admin_header()).json
    assert view["refused_last_24h"]["rate_limited"] >= 1


def test_a_full_queue_refuses_until_a_message_leaves_it(
    start: Callable[..., Gateway], clock: FakeClock
) -> None:
    app, client, _ = start(rate_limits=HELD, max_queued=5)
    first, *waiting = [send(client, f"q{i}") for i in range(6)]
    assert first.status_code == 200  # the pace's one for the hour: out at once
    assert [a.status_code for a in waiting] == [202] * 5
    full = send(client, "a sixth waiting")
    assert full.status_code == 429 and full.json["error"]["code"] == "queue_full"
    assert int(full.headers["Retry-After"]) > 0
    canceled = client.delete(f"/api/email/messages/{waiting[-1].json['id']}", headers=auth_header())
    assert canceled.status_code == 200
    assert send(client, "room again").status_code == 202
    assert stored(app) == 7


def test_the_same_message_is_refused_past_the_repeat_limit_but_a_replay_is_no_repeat(
    start: Callable[..., Gateway], clock: FakeClock
) -> None:
    app, client, fake = start(repeat_limits=(RateLimit(5, 3600),))
    assert [send(client, "same").status_code for _ in range(5)] == [200] * 5
    sixth = send(client, "same")
    assert sixth.status_code == 429 and sixth.json["error"]["code"] == "repeated_message"
    assert 3590 <= int(sixth.headers["Retry-After"]) <= 3600
    assert send(client, "another subject").status_code == 200
    replays = [send(client, "keyed", **{"Idempotency-Key": "k-1"}) for _ in range(8)]
    assert {r.status_code for r in replays} == {200}
    assert len({r.json["id"] for r in replays}) == 1
    assert len(fake.sent) == 7 and stored(app) == 7
    clock.advance(3600)
    assert send(client, "same").status_code == 200


def test_smtp_answers_each_refusal_with_its_code_and_the_client_can_retry(
    smtp_gateway: Callable[..., Any],  # noqa: F811
    clock: FakeClock,
) -> None:
    app, client, _, port = smtp_gateway(
        rate_limits=HELD,
        accept_limits=(RateLimit(3, 60),),
        max_queued=2,
        repeat_limits=(RateLimit(1, 3600),),
    )
    with login(port) as session:
        session.send_message(plain("one"), to_addrs=["paula@example.com"])
        with pytest.raises(smtplib.SMTPDataError) as repeated:
            session.send_message(plain("one"), to_addrs=["paula@example.com"])
        assert repeated.value.smtp_code == 550 and b"5.7.1" in repeated.value.smtp_error
        session.send_message(plain("two"), to_addrs=["paula@example.com"])
        with pytest.raises(smtplib.SMTPDataError) as full:
            session.send_message(plain("three"), to_addrs=["paula@example.com"])
        assert full.value.smtp_code == 452 and b"4.3.1" in full.value.smtp_error
        for stored_id in [
            m["id"]
            for m in client.get("/api/email/messages", headers=auth_header()).json["messages"]
        ]:
            client.delete(f"/api/email/messages/{stored_id}", headers=auth_header())
        session.send_message(plain("four"), to_addrs=["paula@example.com"])
        with pytest.raises(smtplib.SMTPDataError) as limited:
            session.send_message(plain("five"), to_addrs=["paula@example.com"])
        assert limited.value.smtp_code == 451 and b"4.7.1" in limited.value.smtp_error
        clock.advance(61)  # the client retries later, and gets in
        session.send_message(plain("five"), to_addrs=["paula@example.com"])
    assert stored(app) == 4
