"""Twenty mailboxes under gunicorn (three workers), on 30-second token lifetimes: each renewed
once per lifetime; one mailbox's refused, slow or throttled token endpoint, or its Mail API
being down, leaves every other mailbox's renewals and sends on time."""

from __future__ import annotations

import itertools
import time
from collections import deque
from pathlib import Path

import pytest
import requests

from tests.conftest import MESSAGE, admin_header, auth_header
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import Gunicorn, seeded_env, start

LIFETIME = 30


@pytest.mark.slow
def test_twenty_mailboxes_under_three_workers_each_on_time_whatever_one_does(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    real_fake.expires_in = LIFETIME
    real_fake.token_limit = None  # a renewal every 15 s is over Zoho's pace; here it is the point
    env = seeded_env(
        real_fake,
        tmp_path,
        ZOHO_REFRESH_LEAD_SECONDS="15",
        ZOHO_REFRESH_BUFFER_SECONDS="5",
        ZOHO_REFRESH_RETRY_SECONDS="1",
        ZOHO_TIMEOUT_SECONDS="2",
        ZOHO_RATE_LIMITS="off",
        MAILER_LOG_LEVEL="INFO",
    )
    server = start(servers, env, tmp_path)
    tokens, keys, key_ids = {}, {}, {}
    for i in range(20):
        name = f"tenant-{i:02d}"
        tokens[name] = real_fake.add_account(f"{name}@acme.example")
        created = requests.post(
            f"{server.url}/api/email/mailboxes",
            json={"name": name, "refresh_token": tokens[name]},
            headers=admin_header(),
            timeout=10,
        )
        assert created.status_code == 201, created.text
        issued = requests.post(
            f"{server.url}/api/email/mailboxes/{name}/keys", headers=admin_header(), timeout=10
        ).json()
        keys[name], key_ids[name] = issued["key"], issued["id"]
    refused, slow, throttled, mail_down = (tokens[f"tenant-0{i}"] for i in range(4))
    real_fake.revoke(refused)
    real_fake.token_delay_for[slow] = 5.0  # over the 2 s timeout: every renewal times out
    real_fake.token_failures_for[throttled] = deque(["throttle"] * 1000)
    real_fake.account_for(mail_down).mail_down = True
    healthy = [name for name in tokens if name >= "tenant-04"]

    started = time.monotonic()
    while time.monotonic() - started < 50:
        for name in healthy[:4]:  # a few sends a round, from changing mailboxes
            sent = requests.post(
                f"{server.url}/api/email/send",
                json=MESSAGE,
                headers=auth_header(keys[name]),
                timeout=10,
            )
            assert sent.status_code == 200, (name, sent.text)
        healthy.append(healthy.pop(0))
        time.sleep(2)
    queued = requests.post(
        f"{server.url}/api/email/send",
        json=MESSAGE,
        headers=auth_header(keys["tenant-03"]),
        timeout=10,
    )
    assert queued.status_code == 202  # its Mail API is down: stored, retried later

    for name in healthy:
        times = [c.at for c in real_fake.refresh_calls_for(tokens[name])]
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(times)]
        # One renewal per lifetime: never two for one token (the spread floor is 1.5 s), never
        # later than the buffer before expiry (the sweep ticks every second).
        assert all(1.4 <= gap <= LIFETIME - 5 for gap in gaps), (name, gaps)
        assert len(times) >= 4, (name, gaps)
    mailboxes = requests.get(
        f"{server.url}/api/email/mailboxes", headers=admin_header(), timeout=10
    ).json()["mailboxes"]
    status = {m["name"]: m["status"] for m in mailboxes}
    assert status["tenant-00"] == "needs_reconnect"
    assert all(status[name] == "connected" for name in healthy)
    assert server.log().count("tenant-00 needs reconnecting") == 1

    # A revoked key stops at the next request, whichever worker answers it.
    name = healthy[0]
    revoked = requests.delete(
        f"{server.url}/api/email/mailboxes/{name}/keys/{key_ids[name]}",
        headers=admin_header(),
        timeout=10,
    )
    assert revoked.status_code == 204
    for _ in range(9):  # three workers: each answers some
        refused = requests.post(
            f"{server.url}/api/email/send",
            json=MESSAGE,
            headers=auth_header(keys[name]),
            timeout=10,
        )
        assert refused.status_code == 401
