"""A send's Idempotency-Key is claimed in the transaction that stores its message, on both
engines: a queued message's answer is kept with it, a refused one claims nothing, a live key
stores nothing, and of many concurrent sends with one key exactly one is stored."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mailer.runtime.pacing import RateLimit
from mailer.storage.admission_records import AcceptGate, Admission, IdempotencyClaim, NewMessage
from mailer.storage.ports import Storage

T0 = 1_790_000_000.0
OpenState = Callable[[str], Storage]
HOUR = (RateLimit(1, 3600.0),)


def queued_answer(message_id: str, scheduled: bool) -> tuple[int, dict[str, Any]]:
    return 202, {"id": message_id, "status": "scheduled" if scheduled else "queued"}


def claim(fingerprint: str = "fp", *, now: float = T0) -> IdempotencyClaim:
    return IdempotencyClaim("k", fingerprint, now + 300, now + 86400, queued_answer)


def admit(
    state: Storage,
    message_id: str,
    *,
    key: IdempotencyClaim | None,
    now: float = T0,
    gate: AcceptGate | None = None,
    owner: str | None = None,
) -> Admission:
    new = NewMessage(message_id, "default", {"to": ["ann@example.com"]}, claim=key)
    return state.admissions.admit(
        new,
        now=now,
        windows=(),
        gate=gate or AcceptGate(),
        lease_owner=owner,
        leased_until=now + 30,
    )


def stored(state: Storage) -> set[str]:
    with state.database.read() as tx:  # type: ignore[attr-defined]
        return {row["id"] for row in tx.rows("SELECT id FROM messages")}


@pytest.fixture
def state(state_location: str, open_state: OpenState) -> Storage:
    return open_state(state_location)


def test_a_queued_messages_answer_is_kept_with_it_in_its_own_transaction(
    state: Storage,
) -> None:
    group = state.admissions._group  # type: ignore[attr-defined]
    admission = admit(state, "msg_1", key=claim())
    assert admission.stored is not None and admission.answered and not admission.inline
    assert group.batches == 1  # the claim, the message and the answer: one transaction
    kept = state.idempotency.claim("k", "fp", now=T0, leased_until=T0 + 1, expires_at=T0 + 2)
    assert kept is not None and (kept.status, kept.answer) == (
        202,
        {"id": "msg_1", "status": "queued"},
    )


def test_a_message_leased_for_an_attempt_holds_its_key_in_flight(state: Storage) -> None:
    admission = admit(state, "msg_1", key=claim(), owner="worker-1")
    assert admission.inline and not admission.answered
    in_flight = state.idempotency.claim("k", "fp", now=T0, leased_until=T0 + 1, expires_at=T0 + 2)
    assert in_flight is not None and in_flight.status is None
    state.idempotency.complete("k", 200, {"id": "msg_1", "status": "sent"})
    done = admit(state, "msg_2", key=claim(now=T0 + 1), now=T0 + 1)
    assert done.stored is None and done.replay is not None and done.replay.status == 200
    assert stored(state) == {"msg_1"}


def test_a_live_key_stores_nothing_and_says_who_holds_it(state: Storage) -> None:
    admit(state, "msg_1", key=claim())
    again = admit(state, "msg_2", key=claim("other"), now=T0 + 5)
    assert again.stored is None and again.replay is not None
    assert again.replay.fingerprint == "fp" and again.replay.answer == {
        "id": "msg_1",
        "status": "queued",
    }
    assert stored(state) == {"msg_1"}


def test_a_refused_message_claims_nothing_and_frees_no_other_claim(state: Storage) -> None:
    one_an_hour = AcceptGate(limits=HOUR)
    admit(state, "msg_1", key=None, gate=one_an_hour)
    refused = admit(state, "msg_2", key=claim(), now=T0 + 1, gate=one_an_hour)
    assert refused.refusal == "rate_limited" and refused.replay is None
    assert (
        state.idempotency.claim("k", "x", now=T0 + 2, leased_until=T0 + 3, expires_at=9e9) is None
    )
    # Now another request holds "k" in flight: a refused send with the key leaves it alone.
    refused_again = admit(state, "msg_3", key=claim(now=T0 + 2), now=T0 + 2, gate=one_an_hour)
    assert refused_again.stored is None and refused_again.replay is not None
    assert refused_again.replay.fingerprint == "x" and refused_again.replay.status is None
    assert stored(state) == {"msg_1"}


def test_an_expired_key_is_taken_over(state: Storage) -> None:
    admit(state, "msg_1", key=claim())
    later = T0 + 86401
    admission = admit(state, "msg_2", key=claim("new", now=later), now=later)
    assert admission.stored is not None and admission.answered
    assert stored(state) == {"msg_1", "msg_2"}


def test_concurrent_sends_with_one_key_store_exactly_one(
    state_location: str, open_state: OpenState
) -> None:
    workers = [open_state(state_location) for _ in range(4)]

    def send(i: int) -> Admission:
        return admit(workers[i % 4], f"msg_{i}", key=claim())

    with ThreadPoolExecutor(8) as pool:
        admissions = list(pool.map(send, range(16)))
    assert sum(a.stored is not None for a in admissions) == 1
    assert all(a.replay is not None for a in admissions if a.stored is None)
    assert len(stored(workers[0])) == 1
