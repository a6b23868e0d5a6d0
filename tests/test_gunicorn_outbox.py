"""Store and forward under gunicorn with several workers, against the fake Zoho, in real time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import admin_header, auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start


def send_all(server: Gunicorn, count: int, prefix: str) -> list[requests.Response]:
    def one(i: int) -> requests.Response:
        return requests.post(
            f"{server.url}/api/email/send",
            json={"to": "paula@example.com", "subject": f"{prefix}{i}", "text": "hi"},
            headers=auth_header(),
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def delivered(fake: FakeZoho, prefix: str) -> set[str]:
    return {s["subject"] for s in list(fake.sent) if s["subject"].startswith(prefix)}


def test_a_burst_of_200_is_accepted_and_delivered_at_5_per_second(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="5/second",
        MAILER_LOG_LEVEL="INFO",
    )
    server = start(servers, env, tmp_path, workers=3)
    answers = send_all(server, 200, "burst-")
    assert {a.status_code for a in answers} <= {200, 202}
    assert len({a.json()["id"] for a in answers}) == 200
    server.wait_until(
        lambda: len(delivered(real_fake, "burst-")) == 200, what="all 200", timeout=120
    )
    assert len(real_fake.sent) == 200
    sends = sorted(c.at for c in real_fake.mail_calls if c.path.endswith("/messages"))
    busiest = max(sum(1 for t in sends if start <= t < start + 1.0) for start in sends)
    assert busiest <= 5


def test_with_the_mail_api_down_sends_are_queued_and_all_go_out_once_it_is_back(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="off",
        MAILER_RETRY_SECONDS="0.5",
    )
    server = start(servers, env, tmp_path)
    real_fake.mail_down = True
    answers = send_all(server, 20, "down-")
    assert [a.status_code for a in answers] == [202] * 20
    assert real_fake.sent == []
    real_fake.mail_down = False
    server.wait_until(lambda: len(delivered(real_fake, "down-")) == 20, what="all 20", timeout=30)
    views = [
        requests.get(
            f"{server.url}/api/email/messages/{a.json()['id']}", headers=auth_header(), timeout=5
        ).json()
        for a in answers
    ]
    assert {v["status"] for v in views} == {"sent"}
    assert all(v["attempts"] >= 2 for v in views)


def test_kill_9_of_the_whole_gunicorn_loses_no_accepted_message(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="10/second",
        ZOHO_TIMEOUT_SECONDS="1",
        MAILER_RETRY_SECONDS="0.5",
    )
    real_fake.mail_delay_seconds = 0.3  # so that some sends are in flight at the kill
    first = start(servers, env, tmp_path)
    answers = send_all(first, 60, "crash-")
    accepted = {a.json()["id"] for a in answers if a.status_code in (200, 202)}
    assert len(accepted) == 60
    first.wait_until(lambda: len(real_fake.sent) >= 15, what="some deliveries")
    first.kill_all()
    before_restart = delivered(real_fake, "crash-")
    assert len(before_restart) < 60  # the kill came with messages still queued

    second = start(servers, env, tmp_path)

    def statuses() -> set[str]:
        return {
            requests.get(
                f"{second.url}/api/email/messages/{message_id}", headers=auth_header(), timeout=5
            ).json()["status"]
            for message_id in accepted
        }

    # A message cut off mid-attempt goes out again once its lease (4 x 1 s + 5 s) runs out.
    second.wait_until(lambda: statuses() == {"sent"}, what="every message sent", timeout=60)
    assert delivered(real_fake, "crash-") == {f"crash-{i}" for i in range(60)}
    duplicates = len([s for s in real_fake.sent if s["subject"].startswith("crash-")]) - 60
    assert duplicates <= 6  # at least once: only what was in flight at the kill


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_hold_is_one_state_for_every_worker_and_ends_by_probe_and_by_resume(
    real_fake: FakeZoho,
    tmp_path: Path,
    servers: list[Gunicorn],
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    """Two workers: the unknown answers one worker met hold the mailbox for both; only probes
    call Zoho while held; a probe Zoho takes ends it for both, and so does a resume."""
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_RATE_LIMITS="off",
        MAILER_HOLD_AFTER="2",
        MAILER_HOLD_PROBE_MINUTES="0.05",  # a probe every 3 s
        MAILER_LOG_LEVEL="INFO",
    )
    if engine == "postgresql":
        env["MAILER_DB"] = request.getfixturevalue("postgres").new_database()
    server = start(servers, env, tmp_path, workers=2)
    real_fake.mail_unknown = "unknown:400:NEW_UNDOCUMENTED_CODE"
    assert {a.status_code for a in send_all(server, 4, "held-")} == {202}

    def statuses() -> set[int]:
        return {
            requests.get(
                f"{server.url}/api/email/status", headers=auth_header(), timeout=10
            ).status_code
            for _ in range(8)
        }

    server.wait_until(lambda: statuses() == {503}, what="the hold, in every worker")
    calls = len(real_fake.mail_calls)
    server.wait_until(lambda: len(real_fake.mail_calls) > calls, what="a probe", timeout=30)
    probes = len(real_fake.mail_calls) - calls
    assert probes <= 2  # one per probe interval, whichever worker sends it
    real_fake.mail_unknown = None
    server.wait_until(lambda: len(delivered(real_fake, "held-")) == 4, what="the drain", timeout=60)
    assert statuses() == {200}
    assert len(real_fake.sent) == 4  # each exactly once

    real_fake.mail_unknown = "blocked"  # one answer that says the account may not send
    send_all(server, 1, "blocked-")
    server.wait_until(lambda: statuses() == {503}, what="the hold after a block")
    real_fake.mail_unknown = None
    resumed = requests.post(
        f"{server.url}/api/email/mailboxes/default/resume", headers=admin_header(), timeout=10
    )
    assert resumed.status_code == 200 and resumed.json()["hold"] is None
    assert statuses() == {200}
    server.wait_until(lambda: len(delivered(real_fake, "blocked-")) == 1, what="the held one")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_back_pressure_is_one_count_for_every_worker(
    real_fake: FakeZoho,
    tmp_path: Path,
    servers: list[Gunicorn],
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    """Two workers: 30 quick sends against 20/minute let exactly 20 in; a queue of 5 refuses the
    sixth until a cancel makes room; the same message is refused the sixth time in an hour."""
    db = (
        {"MAILER_DB": request.getfixturevalue("postgres").new_database()}
        if engine != "sqlite"
        else {}
    )
    limited = start(
        servers,
        seeded_env(real_fake, tmp_path, ZOHO_RATE_LIMITS="off",
                   MAILER_ACCEPT_LIMITS="20/minute", **db),
        tmp_path,
        workers=2,
    )  # fmt: skip
    answers = send_all(limited, 30, "limited-")
    assert sorted(a.status_code for a in answers) == [200] * 20 + [429] * 10
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert len(delivered(real_fake, "limited-")) == 20  # nothing refused was sent
    limited.stop()

    capped_dir = tmp_path / "capped"
    capped_dir.mkdir()
    db = (
        {"MAILER_DB": request.getfixturevalue("postgres").new_database()}
        if engine != "sqlite"
        else {}
    )
    capped = start(
        servers,
        seeded_env(real_fake, capped_dir, ZOHO_RATE_LIMITS="1/hour",
                   MAILER_MAX_QUEUED="5", MAILER_REPEAT_LIMIT="5/hour", **db),
        capped_dir,
        workers=2,
    )  # fmt: skip

    def post(subject: str) -> requests.Response:
        body = {"to": "paula@example.com", "subject": subject, "text": "hi"}
        return requests.post(
            f"{capped.url}/api/email/send", json=body, headers=auth_header(), timeout=30
        )

    assert post("the hour's one").status_code == 200  # the pace holds everything after it
    waiting = [post("same") for _ in range(5)]
    assert [a.status_code for a in waiting] == [202] * 5
    full = post("different")
    assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
    assert int(full.headers["Retry-After"]) > 0
    canceled = requests.delete(
        f"{capped.url}/api/email/messages/{waiting[0].json()['id']}",
        headers=auth_header(),
        timeout=10,
    )
    assert canceled.status_code == 200
    repeated = post("same")  # the sixth time in the hour: refused, though there is room
    assert repeated.status_code == 429 and repeated.json()["error"]["code"] == "repeated_message"
    assert post("different").status_code == 202
