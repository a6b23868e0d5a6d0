"""What the console keeps and reads, on both engines: its sessions, each attempt of a message
(kept by a trigger), the hourly counts (kept by triggers), webhook events by message, and the
search across mailboxes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer.storage.admission_records import NewMessage
from mailer.storage.console_ports import MessageQuery
from mailer.storage.ports import Storage
from mailer.storage.records import Grant, Outcome, WebhookEvent

T0 = 1_790_000_000.0
HOUR = int(T0 // 3600 * 3600)

OpenState = Callable[[str], Storage]


@pytest.fixture
def state(state_location: str, open_state: OpenState) -> Storage:
    return open_state(state_location)


def add(
    state: Storage,
    message_id: str,
    *,
    mailbox: str = "default",
    to: str = "paula@example.com",
    subject: str = "Hello",
    now: float = T0,
    tags: tuple[str, ...] = (),
) -> None:
    payload = {"to": [to], "cc": ["Carl <CC@Example.com>"], "subject": subject}
    new = NewMessage(message_id, mailbox, payload, tags=tags)
    state.messages.add(new, now=now, lease_owner=None, leased_until=None)


def test_a_session_lives_until_it_is_closed_or_expires(state: Storage) -> None:
    sessions = state.console_sessions
    sessions.open("h1", now=T0, expires_at=T0 + 60)
    sessions.open("h2", now=T0, expires_at=T0 + 60)
    assert sessions.valid("h1", now=T0 + 59) and not sessions.valid("h1", now=T0 + 60)
    sessions.close("h2")
    assert not sessions.valid("h2", now=T0) and not sessions.valid("nobody", now=T0)


def test_each_attempt_and_outcome_is_kept_and_counted_by_the_hour(state: Storage) -> None:
    add(state, "msg_1")
    assert state.messages.claim_due("default", now=T0, owner="w", leased_until=T0 + 60)
    # Back to the queue without an attempt (the pace said wait): no attempt row.
    assert state.messages.retry("msg_1", "w", next_attempt_at=T0 + 1, attempts=0, now=T0)
    assert state.messages.claim_due("default", now=T0 + 1, owner="w", leased_until=T0 + 60)
    assert state.messages.retry(
        "msg_1", "w", next_attempt_at=T0 + 30, attempts=1, now=T0 + 2,
        error_code="zoho_timeout", error="Zoho did not answer in 10 s",
    )  # fmt: skip
    assert state.messages.claim_due("default", now=T0 + 30, owner="w", leased_until=T0 + 90)
    sent = Outcome("sent", 2, zoho_message_id="z-1", mail_id="<m@zoho>")
    assert state.messages.finish("msg_1", "w", sent, now=T0 + 31)
    attempts = state.history.attempts("msg_1")
    assert [(a.attempt, a.status, a.error_code) for a in attempts] == [
        (1, "queued", "zoho_timeout"),
        (2, "sent", None),
    ]
    assert attempts[0].error == "Zoho did not answer in 10 s"
    assert attempts[1].zoho_message_id == "z-1" and attempts[1].at == T0 + 31
    add(state, "msg_2", mailbox="billing")
    assert state.messages.claim_due("billing", now=T0, owner="w", leased_until=T0 + 60)
    failed = Outcome("failed", 1, error_code="zoho_rejected", zoho_error_code="INVALID_DATA")
    assert state.messages.finish("msg_2", "w", failed, now=T0 + 3601)
    every = {(c.hour, c.outcome): c.count for c in state.history.hours(None, since=T0 - 60)}
    assert every == {(HOUR, "sent"): 1, (HOUR + 3600, "failed"): 1}
    billing = state.history.hours("billing", since=T0)
    assert [(c.hour, c.outcome, c.count) for c in billing] == [(HOUR + 3600, "failed", 1)]
    assert state.history.hours("default", since=T0 + 7200) == []


def test_renewals_and_their_failures_are_counted_by_the_hour(state: Storage) -> None:
    state.mailboxes.seed(
        "default", refresh_token="r1", fingerprint="f1", accounts_url="https://accounts.zoho.eu",
        mail_api_url="https://mail.zoho.eu", account_id=None, now=T0,
    )  # fmt: skip
    state.mailboxes.record_renewal("default", Grant("a1", T0 + 3600, T0 + 3000), now=T0 + 1)
    state.mailboxes.record_renewal("default", Grant("a2", T0 + 7200, T0 + 6600), now=T0 + 2)
    state.mailboxes.record_renewal_failure(
        "default", outcome="failed", failures=1, next_renewal_at=T0 + 60, needs_reauth=False,
        now=T0 + 3,
    )  # fmt: skip
    counts = {c.outcome: c.count for c in state.history.hours("default", since=T0)}
    assert counts == {"renewed": 2, "renewal_failed": 1}
    assert {c.outcome: c.count for c in state.history.hours(None, since=T0)} == counts


def test_a_messages_webhook_events_are_found_by_its_id(state: Storage) -> None:
    add(state, "msg_1")
    assert state.messages.claim_due("default", now=T0, owner="w", leased_until=T0 + 60)
    event = WebhookEvent("evt_1", "message.sent", "{}", T0 + 1, message_id="msg_1")
    sent = Outcome("sent", 1, zoho_message_id="z-1")
    assert state.messages.finish("msg_1", "w", sent, now=T0 + 1, event=event)
    (delivery,) = state.history.deliveries("msg_1")
    assert (delivery.id, delivery.type, delivery.delivered_at) == ("evt_1", "message.sent", None)
    assert state.history.deliveries("msg_2") == []


def test_a_search_matches_every_filter_across_mailboxes_newest_first(state: Storage) -> None:
    add(state, "msg_1", to="ann@example.com", subject="Invoice 7", tags=("bill",))
    add(state, "msg_2", mailbox="billing", to="Ann <ANN@example.com>", subject="Receipt",
        now=T0 + 10, tags=("bill",))  # fmt: skip
    add(state, "msg_3", to="bob@example.com", subject="invoice 8", now=T0 + 20)
    assert state.messages.claim_due("default", now=T0 + 30, owner="w", leased_until=T0 + 90)

    def ids(**filters: object) -> list[str]:
        return [m.id for m in state.history.search(MessageQuery(**filters)).messages]  # type: ignore[arg-type]

    assert ids() == ["msg_3", "msg_2", "msg_1"]
    assert ids(recipient="ann@EXAMPLE") == ["msg_2", "msg_1"]
    assert ids(recipient="cc@example.com") == ["msg_3", "msg_2", "msg_1"]  # cc counts
    assert ids(subject="INVOICE") == ["msg_3", "msg_1"]
    assert ids(mailbox="billing") == ["msg_2"]
    assert ids(tag="bill") == ["msg_2", "msg_1"]
    assert ids(tag="bill", mailbox="default") == ["msg_1"]
    assert ids(status="sending") == ["msg_1"]
    assert ids(status="queued", mailbox="default") == ["msg_3"]
    assert ids(since=T0 + 5, until=T0 + 20) == ["msg_2"]
    first = state.history.search(MessageQuery(limit=2))
    assert [m.id for m in first.messages] == ["msg_3", "msg_2"]
    assert first.more_before is not None
    rest = state.history.search(MessageQuery(limit=2, before=first.more_before))
    assert ([m.id for m in rest.messages], rest.more_before) == (["msg_1"], None)
