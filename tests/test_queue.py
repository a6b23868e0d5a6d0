"""Accepted messages after the fact: listed newest first with a cursor, canceled while they wait
(a cancel and a delivery never both win), requeued by an operator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.runtime.errors import Conflict
from mailer.storage.admission_records import NewMessage
from mailer.storage.ports import Storage
from tests.conftest import MESSAGE, FakeClock, auth_header
from tests.fake_zoho import FakeZoho


def queued(client: FlaskClient, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        answer = client.post("/api/email/send", json=MESSAGE, headers=auth_header())
        assert answer.status_code == 202
        ids.append(answer.get_json()["id"])
    return ids


@pytest.fixture
def held(connected: tuple[Flask, FlaskClient, FakeZoho]) -> tuple[Flask, FlaskClient, FakeZoho]:
    """A connected gateway whose Mail API is down: every send waits in the queue."""
    connected[2].mail_down = True
    return connected


def test_the_list_is_newest_first_pages_with_a_cursor_and_filters(
    held: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    _, client, _ = held
    ids = []
    for _ in range(5):
        ids += queued(client)
        clock.advance(1)
    first = client.get("/api/email/messages?limit=2", headers=auth_header()).get_json()
    assert [m["id"] for m in first["messages"]] == ids[::-1][:2]
    second = client.get(
        f"/api/email/messages?limit=2&cursor={first['next_cursor']}", headers=auth_header()
    ).get_json()
    third = client.get(
        f"/api/email/messages?limit=2&cursor={second['next_cursor']}", headers=auth_header()
    ).get_json()
    assert [m["id"] for m in second["messages"] + third["messages"]] == ids[::-1][2:]
    assert third["next_cursor"] is None
    sent = client.get("/api/email/messages?status=sent", headers=auth_header()).get_json()
    assert sent == {"messages": [], "next_cursor": None}
    assert first["messages"][0]["mailbox"] == "default"


def test_a_tag_pages_with_a_cursor_in_the_same_order(
    held: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    _, client, _ = held
    tagged = []
    for i in range(5):
        tags = ["invoice"] if i % 2 == 0 else ["newsletter"]
        answer = client.post(
            "/api/email/send", json={**MESSAGE, "tags": tags}, headers=auth_header()
        )
        if tags == ["invoice"]:
            tagged.append(answer.get_json()["id"])
        clock.advance(1)
    pages, cursor = [], None
    while True:
        query = "tag=invoice&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/email/messages?{query}", headers=auth_header()).get_json()
        pages.append([m["id"] for m in page["messages"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [tagged[::-1][:2], tagged[::-1][2:]]
    queued_only = client.get(
        "/api/email/messages?tag=invoice&status=sent", headers=auth_header()
    ).get_json()
    assert queued_only["messages"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=501", "invalid_limit"),
        ("limit=x", "invalid_limit"),
        ("status=lost", "invalid_status"),
        ("cursor=%25%25", "invalid_cursor"),
    ],
)
def test_bad_list_parameters_are_400(
    held: tuple[Flask, FlaskClient, FakeZoho], query: str, code: str
) -> None:
    _, client, _ = held
    answer = client.get(f"/api/email/messages?{query}", headers=auth_header())
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code


def test_a_canceled_message_is_never_sent_and_a_sent_one_cannot_be_canceled(
    held: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    app, client, fake = held
    [waiting, going] = queued(client, 2)
    canceled = client.delete(f"/api/email/messages/{waiting}", headers=auth_header())
    assert canceled.status_code == 200
    assert canceled.get_json() == {"id": waiting, "status": "canceled"}
    again = client.delete(f"/api/email/messages/{waiting}", headers=auth_header())
    assert again.status_code == 200  # canceling twice is still canceled
    fake.mail_down = False
    clock.advance(3600)
    app.extensions["mailer"].jobs.deliver()
    assert len(fake.sent) == 1
    view = client.get(f"/api/email/messages/{waiting}", headers=auth_header()).get_json()
    assert view["status"] == "canceled"
    late = client.delete(f"/api/email/messages/{going}", headers=auth_header())
    assert late.status_code == 409
    assert late.get_json()["error"]["code"] == "not_cancelable"
    assert client.delete("/api/email/messages/msg_nope", headers=auth_header()).status_code == 404
    assert client.get("/api/email/messages/msg_nope", headers=auth_header()).status_code == 404


def test_a_cancel_and_a_claim_never_both_win(
    state_location: str, open_state: Callable[[str], Storage], clock: FakeClock
) -> None:
    one, other = open_state(state_location), open_state(state_location)
    now = clock.now()
    for message_id in ("msg_a", "msg_b"):
        one.messages.add(NewMessage(message_id, "default", {}), now=now)
    claimed = one.messages.claim_due("default", now=now, owner="w1", leased_until=now + 60)
    assert claimed is not None and claimed.id == "msg_a"
    changed, after = other.messages.cancel("msg_a", "default", now=now)
    assert not changed and after is not None and after.status == "sending"
    changed, after = other.messages.cancel("msg_b", "default", now=now)
    assert changed and after is not None and after.status == "canceled"
    assert one.messages.claim_due("default", now=now, owner="w1", leased_until=now + 60) is None
    assert other.messages.cancel("msg_b", "other-mailbox", now=now) == (False, None)


def test_a_failed_message_can_be_requeued_and_then_goes(
    held: tuple[Flask, FlaskClient, FakeZoho], clock: FakeClock
) -> None:
    app, client, fake = held
    gateway: Any = app.extensions["mailer"]
    fake.mail_down = False
    fake.mail_failures.append("reject:INVALID_DATA")
    failed = client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    assert failed.status_code == 502
    message_id = failed.get_json()["id"]
    gateway.queue.requeue("default", message_id)
    gateway.jobs.deliver()
    view = client.get(f"/api/email/messages/{message_id}", headers=auth_header()).get_json()
    assert view["status"] == "sent"
    with pytest.raises(Conflict) as refused:
        gateway.queue.requeue("default", message_id)
    assert refused.value.code == "not_retryable"
