"""The accept's one statement stores a message exactly when the read that tells why it would be
refused finds nothing refusing it, and leases it exactly when that read allows an attempt now:
generated states (the pace's calls, pauses and holds, suppressions, accept limits, the queue
cap, repeats, the mailbox's generation, what an earlier request left under the
Idempotency-Key), each checked both ways in one transaction that is
then rolled back, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailer.runtime import pacing
from mailer.runtime.pacing import RateLimit
from mailer.storage.admission_records import AcceptGate, IdempotencyClaim, NewMessage
from mailer.storage.database import Database, Tx
from mailer.storage.ports import Storage
from mailer.storage.tables.accept_statement import insert_if_clear
from mailer.storage.tables.admission import decide
from mailer.storage.tables.idempotency import live_in
from mailer.storage.tables.message_rows import insert_message, new_message

NOW = 1_000_000.0
MAILBOX = "default"
# Times before NOW, on and around every window's edge (the pace widens 1, 10 and 60 s windows
# to 1.25, 11 and 66 s).
AGES = (0.0, 0.5, 1.0, 1.25, 5.0, 10.0, 11.0, 59.0, 60.0, 66.0, 70.0)
DIGESTS = ("same", "other")
ADDRESSES = ("ann@example.com", "bob@example.com")


@dataclass(frozen=True)
class Scene:
    windows: tuple[RateLimit, ...]
    calls: int
    call_ages: tuple[float, ...]
    paused_for: float | None  # seconds from NOW (negative: a pause that has ended)
    held: bool
    limits: tuple[RateLimit, ...]
    max_queued: int | None
    repeats: tuple[RateLimit, ...]
    earlier: tuple[tuple[float, str, bool], ...]  # age, digest, still waiting
    recipients: tuple[str, ...]
    suppressed: tuple[str, ...]
    leasing: bool
    scheduled: bool
    generation: str  # "unchecked", "same", "changed"
    key: str  # the request's Idempotency-Key: "none", or what an earlier request left under it


# What an earlier request left under the key: (status, leased until, expires at), from NOW.
KEY_RECORDS = {
    "answered": (202, -10.0, 100.0),
    "in_flight": (None, 10.0, 100.0),
    "lapsed": (None, 0.0, 100.0),  # its worker died: the lease ran out
    "expired": (202, -10.0, 0.0),
}


# Clear, leasing, one call a message under 1 per 10 s: the examples put one thing on an edge.
EDGE = Scene(
    windows=pacing.windows_for((RateLimit(1, 10.0),)), calls=1, call_ages=(), paused_for=None,
    held=False, limits=(), max_queued=None, repeats=(), earlier=(),
    recipients=("ann@example.com",), suppressed=(), leasing=True, scheduled=False,
    generation="unchecked", key="none",
)  # fmt: skip
limits = st.builds(RateLimit, st.integers(1, 3), st.sampled_from([1.0, 10.0, 60.0]))
scenes = st.builds(
    Scene,
    windows=st.lists(limits, max_size=2).map(lambda found: pacing.windows_for(tuple(found))),
    calls=st.integers(0, 2),
    call_ages=st.lists(st.sampled_from(AGES), max_size=5).map(tuple),
    paused_for=st.none() | st.sampled_from([-1.0, 0.0, 5.0]),
    held=st.booleans(),
    limits=st.lists(limits, max_size=2).map(tuple),
    max_queued=st.none() | st.integers(0, 3),
    repeats=st.lists(limits, max_size=1).map(tuple),
    earlier=st.lists(
        st.tuples(st.sampled_from(AGES), st.sampled_from(DIGESTS), st.booleans()), max_size=5
    ).map(lambda found: tuple(sorted(found, reverse=True))),  # oldest first, as numbered
    recipients=st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=2, unique=True).map(tuple),
    suppressed=st.lists(st.sampled_from(ADDRESSES), max_size=2, unique=True).map(tuple),
    leasing=st.booleans(),
    scheduled=st.booleans(),
    generation=st.sampled_from(["unchecked", "same", "changed"]),
    key=st.sampled_from(["none", "unused", *KEY_RECORDS]),
)


class RolledBack(Exception):
    """Ends an example's transaction: nothing it wrote stays."""


@pytest.fixture
def state(state_location: str, open_state: Callable[[str], Storage]) -> Storage:
    storage = open_state(state_location)
    storage.mailboxes.create(
        MAILBOX,
        accounts_url="https://accounts.example",
        mail_api_url="https://mail.example",
        from_address=None,
        refresh_token=None,
        now=NOW,
    )
    return storage


def set_the_scene(tx: Tx, scene: Scene) -> None:
    for age in scene.call_ages:
        tx.execute("INSERT INTO mail_calls (mailbox, at) VALUES (?, ?)", (MAILBOX, NOW - age))
    if scene.paused_for is not None or scene.held:
        held = NOW - 30 if scene.held else None
        tx.execute(
            "INSERT INTO mail_pauses (mailbox, paused_until, throttles, held_since)"
            " VALUES (?, ?, 0, ?)",
            (MAILBOX, NOW + (-60.0 if scene.paused_for is None else scene.paused_for), held),
        )
    for address in scene.suppressed:
        tx.execute(
            "INSERT INTO suppressions (mailbox, address, reason, created_at)"
            " VALUES (?, ?, 'hard_bounce', ?)",
            (MAILBOX, address, NOW - 100),
        )
    if scene.key in KEY_RECORDS:
        status, leased, expires = KEY_RECORDS[scene.key]
        tx.execute(
            "INSERT INTO idempotency (key, fingerprint, status, answer, leased_until, expires_at)"
            " VALUES ('k', 'fp', ?, ?, ?, ?)",
            (status, '{"id": "msg_earlier"}' if status else None, NOW + leased, NOW + expires),
        )
    for seq, (age, digest, waiting) in enumerate(scene.earlier, start=1):
        earlier = NewMessage(id=f"msg_earlier_{seq}", mailbox=MAILBOX, payload={"subject": "x"})
        stored = new_message(earlier, now=NOW - age, leased_until=None)
        insert_message(tx, stored, None, tags=(), seq=seq, digest=digest)
        if not waiting:
            tx.execute("UPDATE messages SET status = 'sent' WHERE id = ?", (stored.id,))


def no_answer(message_id: str, scheduled: bool) -> tuple[int, dict[str, Any]]:
    raise AssertionError("the statement keeps no key: the admission does")


def generation(db: Database, scene: Scene) -> int | None:
    if scene.generation == "unchecked":
        return None
    with db.read() as tx:
        row = tx.row("SELECT generation FROM mailboxes WHERE name = ?", (MAILBOX,))
    assert row is not None
    return int(row["generation"]) + (1 if scene.generation == "changed" else 0)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scene=scenes)
@example(scene=replace(EDGE, call_ages=(11.0,)))  # a call on the pace window's edge
@example(scene=replace(EDGE, paused_for=0.0))  # a pause that ends now
def test_the_statement_stores_and_leases_exactly_when_the_read_would(
    state: Storage, scene: Scene
) -> None:
    db: Database = state.database  # type: ignore[attr-defined]
    new = NewMessage(
        id="msg_new",
        mailbox=MAILBOX,
        payload={"to": list(scene.recipients), "subject": "hello", "text": "hi"},
        calls=scene.calls,
        send_at=NOW + 60 if scene.scheduled else None,
        digest="same",
        recipients=scene.recipients,
        mailbox_generation=generation(db, scene),
        claim=None
        if scene.key == "none"
        else IdempotencyClaim("k", "fp", NOW + 300, NOW + 9e4, no_answer),
    )
    gate = AcceptGate(limits=scene.limits, max_queued=scene.max_queued, repeats=scene.repeats)
    owner = "worker-1" if scene.leasing else None
    with pytest.raises(RolledBack):
        both_ways(db, scene, new, gate, owner)


def both_ways(
    db: Database, scene: Scene, new: NewMessage, gate: AcceptGate, owner: str | None
) -> None:
    """The read's decision and the statement's insert, in one transaction rolled back."""
    with db.write() as tx:
        set_the_scene(tx, scene)
        refused, paced, _ = decide(tx, new, now=NOW, windows=scene.windows, gate=gate)
        if scene.key in ("answered", "in_flight"):
            assert live_in(tx, "k", now=NOW) is not None
            paced = None  # the key is live: nothing is stored
        else:
            assert live_in(tx, "k", now=NOW) is None
        queued = new_message(new, now=NOW, leased_until=None)
        statement = insert_if_clear(
            new, queued, now=NOW, windows=scene.windows, gate=gate, lease_owner=owner,
            leased_until=NOW + 30,
        )  # fmt: skip
        inserted = tx.rows(*statement)
        if paced is None:
            assert inserted == [], refused
        else:
            assert len(inserted) == 1
            leased = inserted[0]["lease_owner"] is not None
            assert leased == (paced and owner is not None)
            row = tx.row("SELECT status, seq, leased_until FROM messages WHERE id = 'msg_new'")
            assert row is not None and row["seq"] == len(scene.earlier) + 1
            expected = "sending" if leased else "scheduled" if scene.scheduled else "queued"
            assert row["status"] == expected
            assert (row["leased_until"] == NOW + 30) if leased else row["leased_until"] is None
        raise RolledBack
