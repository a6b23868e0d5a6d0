"""The storage Protocols' contract, run against both engines (SQLite and a real PostgreSQL).

Where "two workers" appear, they are two storages opened on the same state: separate
connections (and, on PostgreSQL, separate pools), as two processes or two hosts have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailer.runtime import pacing
from mailer.runtime.errors import LockTimeout
from mailer.runtime.pacing import RateLimit
from mailer.storage import retention
from mailer.storage.admission_records import NewMessage
from mailer.storage.ports import Storage
from mailer.storage.records import Attachment, Grant, Hold, Outcome, ZohoAnswer
from mailer.zoho.account import Account

T0 = 1_790_000_000.0
ACCOUNT = Account("2560636000000008002", "rebecca@zylker.com", ("rebecca@zylker.com",))
PAYLOAD = {"to": ["paula@example.com"], "subject": "Hello"}

OpenState = Callable[[str], Storage]


@pytest.fixture
def state(state_location: str, open_state: OpenState) -> Storage:
    return open_state(state_location)


@pytest.fixture
def second(state_location: str, open_state: OpenState, state: Storage) -> Storage:
    """Another worker (or host) on the same state."""
    return open_state(state_location)


def seed(state: Storage, name: str = "default", token: str = "r1", fingerprint: str = "f1") -> bool:
    return state.mailboxes.seed(
        name,
        refresh_token=token,
        fingerprint=fingerprint,
        accounts_url="https://accounts.zoho.eu",
        mail_api_url="https://mail.zoho.eu",
        account_id=None,
        now=T0,
    )


def add(
    state: Storage,
    message_id: str,
    *,
    now: float = T0,
    send_at: float | None = None,
    lease_owner: str | None = None,
    leased_until: float | None = None,
) -> None:
    new = NewMessage(message_id, "default", PAYLOAD, send_at=send_at)
    state.messages.add(new, now=now, lease_owner=lease_owner, leased_until=leased_until)


# Mailboxes and tokens ------------------------------------------------------------------------


def test_a_seed_applies_once_per_fingerprint(state: Storage) -> None:
    assert state.mailboxes.get("default") is None
    assert seed(state)
    assert not seed(state)  # the same environment again: a restart changes nothing
    mailbox = state.mailboxes.get("default")
    assert mailbox is not None
    assert (mailbox.refresh_token, mailbox.accounts_url) == ("r1", "https://accounts.zoho.eu")
    assert seed(state, token="r2", fingerprint="f2")
    assert state.mailboxes.get("default").refresh_token == "r2"  # type: ignore[union-attr]


def test_a_consent_replaces_the_connection_and_a_restart_keeps_it(state: Storage) -> None:
    seed(state)
    grant = Grant("a1", expires_at=T0 + 3600, next_renewal_at=T0 + 3000)
    state.mailboxes.connect(
        "default",
        refresh_token="r-consent",
        accounts_url="https://accounts.zoho.com",
        mail_api_url="https://mail.zoho.com",
        account=ACCOUNT,
        grant=grant,
        now=T0,
    )
    assert not seed(state)  # the unchanged environment does not undo the consent
    mailbox = state.mailboxes.get("default")
    assert mailbox is not None
    assert mailbox.refresh_token == "r-consent" and mailbox.account == ACCOUNT
    assert mailbox.seconds_left(T0 + 600) == 3000
    assert mailbox.last_renewal_outcome == "connected"


def test_renewals_failures_and_refused_tokens_are_recorded(state: Storage) -> None:
    seed(state)
    state.mailboxes.record_renewal("default", Grant("a1", T0 + 3600, T0 + 3000), now=T0)
    state.mailboxes.discard_access_token("default", "another")  # not the stored one: kept
    assert state.mailboxes.get("default").access_token == "a1"  # type: ignore[union-attr]
    state.mailboxes.record_renewal_failure(
        "default",
        outcome="throttled",
        failures=1,
        next_renewal_at=T0 + 600,
        needs_reauth=False,
        now=T0,
    )
    mailbox = state.mailboxes.get("default")
    assert mailbox is not None
    assert (mailbox.access_token, mailbox.renewal_failures, mailbox.needs_reauth) == (
        "a1",
        1,
        False,
    )
    state.mailboxes.record_renewal_failure(
        "default",
        outcome="refused",
        failures=2,
        next_renewal_at=T0 + 900,
        needs_reauth=True,
        now=T0,
    )
    mailbox = state.mailboxes.get("default")
    assert mailbox is not None
    assert mailbox.needs_reauth and mailbox.access_token is None
    state.mailboxes.record_renewal("default", Grant("a2", T0 + 7200, T0 + 6600), now=T0)
    mailbox = state.mailboxes.get("default")
    assert mailbox is not None
    assert not mailbox.needs_reauth and mailbox.renewal_failures == 0
    state.mailboxes.discard_access_token("default", "a2")
    assert state.mailboxes.get("default").access_token is None  # type: ignore[union-attr]


def test_mailboxes_are_kept_apart_and_the_account_is_saved(state: Storage) -> None:
    seed(state, "one", token="r1")
    seed(state, "two", token="r2")
    state.mailboxes.save_account("two", ACCOUNT)
    one, two = state.mailboxes.get("one"), state.mailboxes.get("two")
    assert one is not None and two is not None
    assert (one.refresh_token, one.account) == ("r1", None)
    assert (two.refresh_token, two.account) == ("r2", ACCOUNT)
    assert state.mailboxes.get("three") is None


@pytest.mark.security
def test_no_token_in_a_records_repr(state: Storage) -> None:
    seed(state, token="1000.refresh-secret")
    state.mailboxes.record_renewal("default", Grant("1000.access-secret", T0 + 1, T0), now=T0)
    text = repr(state.mailboxes.get("default"))
    assert "secret" not in text and "default" in text


# Idempotency records --------------------------------------------------------------------------


def test_an_idempotency_key_is_claimed_once_then_answers(state: Storage, second: Storage) -> None:
    times = {"now": T0, "leased_until": T0 + 300, "expires_at": T0 + 86400}
    assert state.idempotency.claim("k", "fp", **times) is None
    in_flight = second.idempotency.claim("k", "fp", **times)
    assert in_flight is not None and in_flight.status is None
    state.idempotency.complete("k", 202, {"id": "msg_1"})
    done = second.idempotency.claim("k", "other", **times)
    assert done is not None and (done.fingerprint, done.status, done.answer) == (
        "fp",
        202,
        {"id": "msg_1"},
    )


def test_a_lapsed_claim_is_taken_over(state: Storage) -> None:
    assert (
        state.idempotency.claim("k", "fp", now=T0, leased_until=T0 + 300, expires_at=T0 + 9e4)
        is None
    )
    # Its worker died: once the lease ran out, the key is free again.
    later = T0 + 301
    assert (
        state.idempotency.claim(
            "k", "fp", now=later, leased_until=later + 300, expires_at=later + 9e4
        )
        is None
    )
    held = state.idempotency.claim("k", "fp2", now=later, leased_until=later + 1, expires_at=1e12)
    assert held is not None and held.fingerprint == "fp" and held.status is None


def test_concurrent_claims_of_one_key_admit_exactly_one(
    state_location: str, open_state: OpenState
) -> None:
    workers = [open_state(state_location) for _ in range(4)]

    def claim(i: int) -> bool:
        record = workers[i % 4].idempotency.claim(
            "same", "fp", now=T0, leased_until=T0 + 300, expires_at=T0 + 86400
        )
        return record is None

    with ThreadPoolExecutor(8) as pool:
        winners = sum(pool.map(claim, range(16)))
    assert winners == 1


# The message queue ------------------------------------------------------------------------------


def test_a_message_is_stored_with_its_attachments(state: Storage) -> None:
    pdf = Attachment("report.pdf", "application/pdf", b"%PDF\x00\xff binary")
    stored = state.messages.add(
        NewMessage("msg_1", "default", PAYLOAD, attachments=(pdf,), calls=2), now=T0
    )
    assert stored.status == "queued"
    again = state.messages.get("msg_1")
    assert again == stored
    assert state.messages.get("msg_unknown") is None


def test_due_messages_are_leased_oldest_first_and_never_twice(
    state: Storage, second: Storage
) -> None:
    add(state, "msg_a", now=T0)
    add(state, "msg_b", now=T0 + 1)
    first = state.messages.claim_due("default", now=T0 + 2, owner="w1", leased_until=T0 + 60)
    other = second.messages.claim_due("default", now=T0 + 2, owner="w2", leased_until=T0 + 60)
    assert (first.id, other.id) == ("msg_a", "msg_b")  # type: ignore[union-attr]
    assert state.messages.claim_due("default", now=T0 + 3, owner="w3", leased_until=T0 + 60) is None
    # w1 died: its lease runs out and another worker takes the message over.
    taken = second.messages.claim_due("default", now=T0 + 61, owner="w2", leased_until=T0 + 120)
    assert taken is not None and taken.id == "msg_a"
    late = Outcome("sent", 1, zoho_message_id="z1", mail_id="<m1>")
    assert not state.messages.finish("msg_a", "w1", late, now=T0 + 62)  # w1 no longer holds it
    assert second.messages.finish("msg_a", "w2", late, now=T0 + 62)
    assert state.messages.get("msg_a").status == "sent"  # type: ignore[union-attr]


def test_concurrent_claims_lease_each_message_to_one_worker(
    state_location: str, open_state: OpenState
) -> None:
    workers = [open_state(state_location) for _ in range(4)]
    for i in range(40):
        add(workers[0], f"msg_{i:02d}", now=T0 + i / 100)
    claimed: list[str] = []
    lock = threading.Lock()

    def drain(worker: Storage) -> None:
        while True:
            got = worker.messages.claim_due(
                "default", now=T0 + 5, owner=str(id(worker)), leased_until=T0 + 60
            )
            if got is None:
                return
            with lock:
                claimed.append(got.id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(drain, workers))
    assert sorted(claimed) == [f"msg_{i:02d}" for i in range(40)]


def test_a_retried_message_waits_and_keeps_its_error(state: Storage) -> None:
    add(state, "msg_1")
    assert state.messages.claim_due("default", now=T0, owner="w", leased_until=T0 + 60)
    assert state.messages.retry(
        "msg_1",
        "w",
        next_attempt_at=T0 + 30,
        attempts=1,
        now=T0,
        error_code="zoho_timeout",
        error="slow",
    )
    assert state.messages.claim_due("default", now=T0 + 29, owner="w", leased_until=T0 + 60) is None
    stored = state.messages.get("msg_1")
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error_code) == ("queued", 1, "zoho_timeout")
    failed = Outcome(
        "failed", 2, error_code="zoho_rejected", zoho_error_code="EXTRA_KEY_FOUND_IN_JSON"
    )
    assert state.messages.claim_due("default", now=T0 + 30, owner="w", leased_until=T0 + 90)
    assert state.messages.finish("msg_1", "w", failed, now=T0 + 31)
    stored = state.messages.get("msg_1")
    assert stored is not None
    assert (stored.status, stored.zoho_error_code, stored.finished_at) == (
        "failed",
        "EXTRA_KEY_FOUND_IN_JSON",
        T0 + 31,
    )


def test_queue_stats_count_waiting_and_sending(state: Storage) -> None:
    assert (
        state.messages.stats("default").depth,
        state.messages.stats("default").oldest_created_at,
    ) == (0, None)
    add(state, "msg_1", now=T0)
    add(state, "msg_2", now=T0 + 5, lease_owner="w", leased_until=T0 + 60)
    stats = state.messages.stats("default")
    assert (stats.depth, stats.oldest_created_at) == (2, T0)
    assert state.messages.stats("other").depth == 0


def test_the_waiting_count_follows_every_change_of_status(state: Storage) -> None:
    """The queue cap's count (queued and scheduled), kept by triggers, agrees with a count of
    the rows after each way a message can enter or leave the queue."""

    def agree() -> int:
        with state.database.read() as tx:
            kept = tx.row("SELECT waiting FROM mailbox_waiting WHERE mailbox = 'default'")
            counted = tx.row(
                "SELECT count(*) AS n FROM messages"
                " WHERE mailbox = 'default' AND status IN ('queued', 'scheduled')"
            )
        assert counted is not None
        assert (kept["waiting"] if kept else 0) == counted["n"]
        return int(counted["n"])

    assert agree() == 0
    add(state, "msg_1")
    add(state, "msg_2", send_at=T0 + 600)
    add(state, "msg_3", lease_owner="w", leased_until=T0 + 60)  # sending: not waiting
    assert agree() == 2
    leased = state.messages.claim_due("default", now=T0, owner="w", leased_until=T0 + 60)
    assert leased is not None and agree() == 1
    state.messages.retry(leased.id, "w", next_attempt_at=T0 + 30, attempts=1, now=T0)
    assert agree() == 2
    state.messages.finish("msg_3", "w", Outcome("failed", 1, error_code="x"), now=T0)
    state.messages.requeue("msg_3", "default", now=T0)
    assert agree() == 3
    state.messages.cancel("msg_2", "default", now=T0)
    assert agree() == 2
    state.messages.fail_waiting("default", code="mailbox_deleted", error="gone", now=T0)
    assert agree() == 0


def test_retention_purges_finished_messages_and_expired_records(state: Storage) -> None:
    add(state, "msg_old", lease_owner="w", leased_until=T0 + 60)
    state.messages.finish("msg_old", "w", Outcome("sent", 1), now=T0)
    add(state, "msg_waiting")
    state.idempotency.claim("k", "fp", now=T0, leased_until=T0 + 1, expires_at=T0 + 10)
    state.oauth_states.add("s", "b", T0 + 600, T0)
    week = 7 * 86400
    assert state.purge(retention.cutoffs(T0 + week - 1, week)) == 0
    assert state.purge(retention.cutoffs(T0 + week + 1, week)) == 1
    assert state.messages.get("msg_old") is None and state.messages.get("msg_waiting") is not None
    assert (
        state.idempotency.claim(
            "k", "new", now=T0 + week + 1, leased_until=T0 + week + 2, expires_at=T0 + week + 3
        )
        is None
    )
    state.purge(retention.cutoffs(T0 + 600 + retention.OAUTH_STATE_KEEP_SECONDS + 1, week))
    assert state.oauth_states.take("s", "b", T0 + week) is None


# The Zoho-call ledger and pauses ---------------------------------------------------------------


def test_the_pace_holds_across_workers_under_contention(
    state_location: str, open_state: OpenState
) -> None:
    """32 threads on 4 workers race for calls at one instant: exactly the limit gets through."""
    workers = [open_state(state_location) for _ in range(4)]
    windows = pacing.windows_for((RateLimit(5, 1), RateLimit(12, 60)))

    def take(i: int) -> bool:
        return workers[i % 4].ledger.take("default", 1, windows, now=T0) == 0.0

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take, range(32))) == 5
    wait = workers[0].ledger.take("default", 1, windows, now=T0 + 0.5)  # refused: not taken
    assert wait == pytest.approx(1.25 - 0.5)
    assert workers[1].ledger.take("default", 1, windows, now=T0 + 1.3) == 0.0
    assert workers[2].ledger.take("other-mailbox", 1, windows, now=T0) == 0.0


def test_a_pause_is_shared_and_cleared(state: Storage, second: Storage) -> None:
    assert state.ledger.pause("default") is None
    state.ledger.set_pause("default", paused_until=T0 + 60, throttles=1)
    second.ledger.set_pause("default", paused_until=T0 + 180, throttles=2)
    pause = state.ledger.pause("default")
    assert pause is not None and (pause.paused_until, pause.throttles) == (T0 + 180, 2)
    assert second.ledger.settle("default", resumed=lambda hold: None) is None  # no hold ended
    assert state.ledger.pause("default") is None


def test_a_hold_is_shared_probed_once_and_ended_by_a_success(
    state: Storage, second: Storage
) -> None:
    answer = ZohoAnswer(T0, "send", 400, "NEW_CODE", "Something new")
    held: list[Hold] = []

    def note(storage: Storage, message_id: str) -> Hold | None:
        return storage.ledger.note_unknown(
            "default",
            message_id,
            answer,
            hold_after=2,
            blocks=False,
            next_probe_at=T0 + 900,
            held=lambda hold: held.append(hold) or None,
        )

    assert note(state, "msg_a") is None
    assert note(second, "msg_a") is None  # the same message again: still one of two
    started = note(second, "msg_b")
    assert started is not None and started.reason == "unknown_answers" and held == [started]
    assert note(state, "msg_c") is None  # already held: no second start
    pause = state.ledger.pause("default")
    assert pause is not None and pause.hold == started
    assert state.ledger.holds() == {"default": started}
    assert [a.code for a in second.ledger.answers("default")] == ["NEW_CODE"] * 4
    assert state.ledger.probes_due(now=T0 + 899) == []
    assert state.ledger.probes_due(now=T0 + 900) == ["default"]
    claims = [
        s.ledger.claim_probe("default", now=T0 + 900, next_probe_at=T0 + 1800)
        for s in (state, second, state)
    ]
    assert claims == [True, False, False]
    ended = second.ledger.settle("default", resumed=lambda hold: None)
    assert ended is not None and ended.since == started.since and ended.next_probe_at == T0 + 1800
    assert state.ledger.pause("default") is None and state.ledger.holds() == {}


# OAuth states ------------------------------------------------------------------------------------


def test_an_oauth_state_is_taken_once_and_only_by_its_browser(
    state: Storage, second: Storage
) -> None:
    state.oauth_states.add("s1", "browser", T0 + 600, T0)
    stranger = second.oauth_states.take("s1", "other-browser", T0 + 1)
    assert stranger is not None and stranger.used_at is None  # not consumed by a stranger
    first = second.oauth_states.take("s1", "browser", T0 + 2)
    assert first is not None and first.used_at is None
    again = state.oauth_states.take("s1", "browser", T0 + 3)
    assert again is not None and again.used_at == T0 + 2
    assert state.oauth_states.take("unknown", "browser", T0) is None


# Single flight and the schema --------------------------------------------------------------------


def test_single_flight_excludes_other_workers_and_times_out(
    state_location: str, open_state: OpenState
) -> None:
    holder, waiter = open_state(state_location), open_state(state_location)
    waiter.locks._threads.timeout_seconds = 0.3  # type: ignore[attr-defined]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.locks.hold("token-default"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with pytest.raises(LockTimeout), waiter.locks.hold("token-default"):
        pass
    with waiter.locks.hold("token-other"):
        pass  # another name is free
    release.set()
    thread.join()
    with waiter.locks.hold("token-default"):
        pass


def test_migrations_apply_once_even_when_processes_race(
    state_location: str, open_state: OpenState
) -> None:
    from mailer.storage import open_storage

    racers = [open_storage(state_location) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            applied = list(pool.map(lambda s: s.migrate(), racers))
    finally:
        for racer in racers:
            racer.close()
    assert sorted(len(a) for a in applied) == [0, 0, 0, 13]
    assert open_state(state_location).migrate() == []
