"""Group commit: request threads hand their writes to one writer per process, which commits
what has gathered in one transaction and answers each after the commit. On both engines: the
batching, a bad write failing alone, the mailbox's accepts taking turns across processes; and
under gunicorn, a kill -9 in the middle of a stream of batches loses no acknowledged message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from mailer.runtime.errors import StateUnavailable
from mailer.storage.admission_records import AcceptGate, NewMessage
from mailer.storage.database import Tx
from mailer.storage.group_commit import GroupCommit
from mailer.storage.ports import Storage
from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start

T0 = 1_790_000_000.0
OpenState = Callable[[str], Storage]


@pytest.fixture
def state(state_location: str, open_state: OpenState) -> Storage:
    return open_state(state_location)


def insert(key: str) -> Callable[[Tx], str]:
    def work(tx: Tx) -> str:
        tx.execute(
            "INSERT INTO oauth_states (state_hash, browser_hash, expires_at, mailbox, via_link)"
            " VALUES (?, ?, ?, 'default', 0)",
            (key, "b", T0 + 60),
        )
        return key

    return work


def stored_keys(state: Storage) -> set[str]:
    with state.database.read() as tx:  # type: ignore[attr-defined]
        return {r["state_hash"] for r in tx.rows("SELECT state_hash FROM oauth_states")}


def test_writes_that_gather_while_one_commits_share_the_next_transaction(
    state: Storage,
) -> None:
    group = GroupCommit(state.database)  # type: ignore[attr-defined]
    release = threading.Event()

    def first(tx: Tx) -> str:
        release.wait(10)  # the writer is busy: the others gather meanwhile
        return insert("first")(tx)

    with ThreadPoolExecutor(33) as pool:
        head = pool.submit(group.run, first)
        time.sleep(0.05)
        rest = [pool.submit(group.run, insert(f"k{i}")) for i in range(32)]
        while len(group._pending) < 32:
            time.sleep(0.001)
        release.set()
        assert head.result() == "first"
        assert sorted(f.result() for f in rest) == sorted(f"k{i}" for i in range(32))
    assert (group.batches, group.writes) == (2, 33)
    assert stored_keys(state) == {"first", *(f"k{i}" for i in range(32))}


def test_a_write_that_fails_fails_alone(state: Storage) -> None:
    group = GroupCommit(state.database)  # type: ignore[attr-defined]
    release = threading.Event()

    def hold(tx: Tx) -> str:
        release.wait(10)
        return "held"

    def broken(tx: Tx) -> str:
        tx.execute("INSERT INTO no_such_table VALUES (1)")
        return "never"

    with ThreadPoolExecutor(8) as pool:
        holder = pool.submit(group.run, hold)
        time.sleep(0.05)
        good = [pool.submit(group.run, insert(f"g{i}")) for i in range(3)]
        bad = pool.submit(group.run, broken)
        more = [pool.submit(group.run, insert(f"h{i}")) for i in range(3)]
        while len(group._pending) < 7:
            time.sleep(0.001)
        release.set()
        assert holder.result() == "held"
        with pytest.raises(Exception, match=r"no_such_table|does not exist"):
            bad.result()
        assert [f.result() for f in good + more] == ["g0", "g1", "g2", "h0", "h1", "h2"]
    assert stored_keys(state) == {"g0", "g1", "g2", "h0", "h1", "h2"}


def test_a_store_that_fails_answers_every_write_of_the_batch_at_once(state: Storage) -> None:
    """The store itself failing (here: a write that meets it) is no one write's fault: the
    batch's writes all get that answer, none is retried alone, nothing is stored."""
    group = GroupCommit(state.database)  # type: ignore[attr-defined]
    release = threading.Event()
    calls: list[str] = []

    def hold(tx: Tx) -> str:
        release.wait(10)
        return "held"

    def counted(key: str) -> Callable[[Tx], str]:
        def work(tx: Tx) -> str:
            calls.append(key)
            return insert(key)(tx)

        return work

    def outage(tx: Tx) -> str:
        raise StateUnavailable("the state store cannot be reached")

    with ThreadPoolExecutor(4) as pool:
        holder = pool.submit(group.run, hold)
        time.sleep(0.05)
        batch = []
        for n, work in enumerate((counted("a"), outage, counted("b")), start=1):
            batch.append(pool.submit(group.run, work))
            while len(group._pending) < n:  # queued in this order
                time.sleep(0.001)
        release.set()
        assert holder.result() == "held"
        for future in batch:
            with pytest.raises(StateUnavailable):
                future.result()
    assert calls == ["a"]  # b came after the outage in the one try; nothing ran again
    assert stored_keys(state) == set()


def test_two_processes_accepts_for_one_mailbox_take_turns_each_number_once(
    state_location: str, open_state: OpenState
) -> None:
    """Two storages on one state (two workers, or two hosts), 40 threads each admitting to one
    mailbox at once: every message stored, numbered 1 to 80 without a gap or a repeat."""
    workers = [open_state(state_location), open_state(state_location)]
    gate = AcceptGate()
    barrier = threading.Barrier(80)

    def admit(i: int) -> str:
        storage = workers[i % 2]
        barrier.wait()
        admission = storage.admissions.admit(
            NewMessage(f"msg_{i}", "default", {"to": ["a@example.com"], "subject": "x"}),
            now=T0,
            windows=(),
            gate=gate,
            lease_owner=None,
            leased_until=T0 + 60,
        )
        assert admission.stored is not None
        return admission.stored.id

    with ThreadPoolExecutor(80) as pool:
        ids = list(pool.map(admit, range(80)))
    assert len(set(ids)) == 80
    with workers[0].database.read() as tx:  # type: ignore[attr-defined]
        seqs = [r["seq"] for r in tx.rows("SELECT seq FROM messages ORDER BY seq")]
    assert seqs == list(range(1, 81))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_kill_9_while_batches_are_written_loses_no_acknowledged_message(
    real_fake: FakeZoho,
    tmp_path: Path,
    servers: list[Gunicorn],
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    """16 clients send without pause (the pace holds every message: 202 after the commit), so
    the writers commit batch after batch; gunicorn and its workers are killed in the middle.
    Every message answered 202 is there after a restart; what was cut off was never answered."""
    env = seeded_env(real_fake, tmp_path, ZOHO_RATE_LIMITS="1/hour")
    if engine == "postgresql":
        env["MAILER_DB"] = request.getfixturevalue("postgres").new_database()
    first = start(servers, env, tmp_path, workers=2)
    acknowledged: list[str] = []
    cut_off = 0
    stop = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        nonlocal cut_off
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                answer = session.post(
                    f"{first.url}/api/email/send",
                    json={"to": "paula@example.com", "subject": f"c{n}-{i}", "text": "hi"},
                    headers=auth_header(),
                    timeout=10,
                )
            except requests.RequestException:
                with lock:
                    cut_off += 1
                return
            with lock:
                if answer.status_code == 202:
                    acknowledged.append(answer.json()["id"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill_all()  # mid-stream: requests in flight, batches being written
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 300 and cut_off > 0, (len(acknowledged), cut_off)

    second = start(servers, env, tmp_path, workers=2)

    def status(message_id: str) -> Any:
        answer = requests.get(
            f"{second.url}/api/email/messages/{message_id}", headers=auth_header(), timeout=10
        )
        return answer.status_code, answer.json().get("status")

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(status, acknowledged))
    assert found == [(200, "queued")] * len(acknowledged)
