"""End to end: the gateway under gunicorn with several workers, against the fake Zoho."""

from __future__ import annotations

import base64
import itertools
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import ADMIN_KEY, API_KEY, MESSAGE, SecretGuard, auth_header
from tests.fake_zoho import PRIMARY, FakeZoho
from tests.gunicorn_server import Gunicorn, env_for, free_port, seeded_env, start


def test_three_workers_renew_once_and_a_restart_renews_not_at_all(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn], secret_guard: SecretGuard
) -> None:
    env = env_for(real_fake, tmp_path, ZOHO_REFRESH_TOKEN=real_fake.issue_refresh_token())
    secret_guard.secrets.update({API_KEY, ADMIN_KEY})
    first = start(servers, env, tmp_path)
    first.wait_until(
        lambda: first.log().count("using stored token") >= 3,
        what="every worker's startup",
    )
    assert len(real_fake.refresh_calls()) == 1
    for _ in range(6):  # requests spread over the workers; none renews again
        assert (
            requests.post(
                f"{first.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
            ).status_code
            == 200
        )
    assert len(real_fake.refresh_calls()) == 1
    first.stop()

    second = start(servers, env, tmp_path)
    second.wait_until(lambda: second.log().count("using stored token") >= 3, what="startup")
    assert len(real_fake.refresh_calls()) == 1
    assert (
        requests.post(
            f"{second.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
        ).status_code
        == 200
    )
    assert len([c for c in real_fake.mail_calls if c.path == "/api/accounts"]) == 1
    assert len(real_fake.refresh_calls()) == 1


def test_scheduled_renewals_come_once_per_lifetime_across_workers(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    # A 2-second schedule (lifetime 602 s, lead 600 s) so that a few lifetimes pass in seconds.
    real_fake.expires_in = 602
    real_fake.token_limit = None
    env = env_for(real_fake, tmp_path, ZOHO_REFRESH_TOKEN=real_fake.issue_refresh_token())
    server = start(servers, env, tmp_path)
    server.wait_until(
        lambda: len(real_fake.refresh_calls()) >= 3, what="three renewals", timeout=15
    )
    times = [c.at for c in real_fake.refresh_calls()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(1.5 <= gap <= 3.5 for gap in gaps), gaps  # one per lifetime, not one per worker


def test_setup_from_nothing_under_gunicorn_then_every_worker_sends(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    port = free_port()  # the redirect URI names the host and port the gateway serves on
    real_fake.redirect_uri = f"http://127.0.0.1:{port}/api/email/callback"
    server = Gunicorn(env_for(real_fake, tmp_path), tmp_path / "gunicorn.log")
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    servers.append(server)
    server.start()
    assert requests.get(f"{server.url}/api/email/status", timeout=5).status_code == 503
    browser = requests.Session()
    admin = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()}
    to_zoho = browser.get(
        f"{server.url}/api/email/auth", headers=admin, allow_redirects=False, timeout=5
    )
    back = browser.get(to_zoho.headers["Location"], allow_redirects=False, timeout=5).headers[
        "Location"
    ]
    query = parse_qs(urlsplit(back).query)
    page = browser.get(
        f"{server.url}/api/email/callback", params={k: v[0] for k, v in query.items()}, timeout=10
    )
    assert page.status_code == 200
    assert PRIMARY in page.text
    replay = browser.get(
        f"{server.url}/api/email/callback", params={k: v[0] for k, v in query.items()}, timeout=10
    )
    assert replay.status_code == 200 and "not shown again" in replay.text  # a reload
    answers = [
        requests.post(
            f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
        )
        for _ in range(8)
    ]
    assert [a.status_code for a in answers] == [200] * 8
    assert len(real_fake.sent) == 8
    assert len(real_fake.token_calls) == 1  # the exchange; no worker needed a renewal


def test_an_invalid_refresh_token_under_gunicorn(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    refresh = real_fake.issue_refresh_token()
    real_fake.revoke(refresh)
    env = env_for(real_fake, tmp_path, ZOHO_REFRESH_TOKEN=refresh, ZOHO_REFRESH_RETRY_SECONDS="1")
    server = start(servers, env, tmp_path)
    server.wait_until(
        lambda: "no longer accepts the refresh token" in server.log(), what="the error"
    )
    status = requests.get(f"{server.url}/api/email/status", timeout=5)
    assert status.status_code == 503
    assert "/api/email/auth" in status.json()["reason"]
    sent = requests.post(
        f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
    )
    assert sent.status_code == 503
    assert sent.json()["error"]["code"] == "reauthorization_required"
    # The first retry comes after 1 s, from one worker of three; the fake-clock tests check
    # the minute after it precisely.
    server.wait_until(lambda: len(real_fake.refresh_calls()) >= 2, what="the first retry")
    assert len(real_fake.refresh_calls()) == 2
    assert server.log().count("no longer accepts the refresh token") == 1


def test_bad_settings_stop_gunicorn_naming_each(tmp_path: Path, servers: list[Gunicorn]) -> None:
    env = {
        "ZOHO_CLIENT_ID": "1000.X",
        "ZOHO_REFRESH_LEAD_SECONDS": "soon",
        "MAILER_DB": str(tmp_path / "db.sqlite3"),
    }
    server = Gunicorn(env, tmp_path / "bad.log")
    server.start(wait_ready=False)
    assert server.process is not None
    assert server.process.wait(timeout=20) != 0
    log = server.log()
    for name in ("ZOHO_CLIENT_SECRET", "MAILER_API_KEYS", "ZOHO_REFRESH_LEAD_SECONDS"):
        assert name in log


def test_the_state_file_is_0600_and_shared(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = env_for(real_fake, tmp_path, ZOHO_REFRESH_TOKEN=real_fake.issue_refresh_token())
    server = start(servers, env, tmp_path)
    server.wait_until(lambda: len(real_fake.refresh_calls()) == 1, what="the startup renewal")
    db = tmp_path / "state" / "mailer.sqlite3"
    assert db.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM mailboxes").fetchone()[0] == 1


def test_24_concurrent_sends_after_every_token_expired_renew_once(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = env_for(real_fake, tmp_path, ZOHO_REFRESH_TOKEN=real_fake.issue_refresh_token())
    server = start(servers, env, tmp_path, workers=3)
    for _ in range(4):  # warm every worker: the account is looked up and stored
        assert (
            requests.post(
                f"{server.url}/api/email/send", json=MESSAGE, headers=auth_header(), timeout=10
            ).status_code
            == 200
        )
    renewals = len(real_fake.refresh_calls())
    real_fake.expire_access_tokens()
    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(
            pool.map(
                lambda i: requests.post(
                    f"{server.url}/api/email/send",
                    json={**MESSAGE, "subject": f"burst {i}"},
                    headers={**auth_header(), "Idempotency-Key": f"burst-{i}"},
                    timeout=20,
                ),
                range(24),
            )
        )
    assert [a.status_code for a in answers] == [200] * 24, [
        a.text for a in answers if a.status_code != 200
    ]
    assert len(real_fake.refresh_calls()) == renewals + 1
    assert len(real_fake.sent) == 4 + 24
    assert len({a.json()["zoho_message_id"] for a in answers}) == 24


def test_a_body_over_the_limit_is_refused_under_gunicorn(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    env = env_for(
        real_fake,
        tmp_path,
        ZOHO_REFRESH_TOKEN=real_fake.issue_refresh_token(),
        MAILER_MAX_REQUEST_MB="1",
    )
    server = start(servers, env, tmp_path, workers=2)
    big = b'{"to": "a@example.com", "subject": "s", "text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = requests.post(
        f"{server.url}/api/email/send",
        data=big,
        timeout=10,
        headers={**auth_header(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert real_fake.sent == []


def test_no_metrics_directory_outlives_its_master(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    """A clean stop removes its directory; a kill -9 leaves one, which the next start removes
    (with any other whose master is gone), and never one whose master still runs."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    orphan = temp / "mailer-metrics-999999999-stale"  # no process has that pid
    orphan.mkdir()
    living = temp / f"mailer-metrics-{os.getpid()}-alive"  # this test's own process runs
    living.mkdir()
    env = seeded_env(real_fake, tmp_path, TMPDIR=str(temp))

    def own() -> list[Path]:
        return [d for d in temp.glob("mailer-metrics-*") if d not in (orphan, living)]

    first = start(servers, env, tmp_path, workers=2)
    assert not orphan.exists() and living.exists()
    assert len(own()) == 1
    first.stop()
    assert own() == []
    second = start(servers, env, tmp_path, workers=2)
    [left] = own()
    second.kill_all()
    assert left.exists()  # nothing ran to remove it
    third = start(servers, env, tmp_path, workers=2)
    assert not left.exists() and len(own()) == 1
    third.stop()
    assert own() == [] and living.exists()
