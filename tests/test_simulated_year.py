"""A year of Zoho's bad days on the fake clock: 5 mailboxes through 8,760 token lifetimes, two
workers on one SQLite state, a steady stream of sends, and faults drawn from a seeded
generator at realistic rates: the token endpoint down, slow past the timeout or throttling;
refresh tokens revoked (healed by a reconnect through a connect link); the Mail API answering
5xx, timing out or throttling; worker restarts; a clock jump.

It prints what it saw and asserts: no send refused for a token reason while the refresh token
was valid, no accepted message lost, at most 1.05 renewals per lifetime, never more than 10
token calls in 10 minutes per refresh token, and every mailbox whose refresh token Zoho
refuses marked needs_reconnect at that very attempt.

The seed is printed; replay one with MAILER_YEAR_SEED=<seed> (MAILER_YEAR_HOURS shortens it).
Everything is real but the clock and the socket: the gateway over its HTTP API (Flask's test
client), and the fake Zoho's app called in process through the gateway's own session
(``tests/in_process.py``), which keeps the year to a couple of minutes. Loopback itself is
what the rest of the suite runs on.
"""

from __future__ import annotations

import gc
import heapq
import logging
import os
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config.settings import Settings
from mailer.zoho.http import ZohoSession
from tests.conftest import FakeClock, admin_header, auth_header, follow_link
from tests.fake_zoho import FakeZoho
from tests.in_process import InProcessAdapter

pytestmark = pytest.mark.soak

SEED = int(os.environ.get("MAILER_YEAR_SEED", "8760"))
HOURS = int(os.environ.get("MAILER_YEAR_HOURS", "8760"))
MAILBOXES = 5
SEND_EVERY_HOURS = 6.0  # each mailbox, on average (exponential gaps)
# Faults a year, and how long each lasts (minutes): (count, shortest, longest).
FAULTS: dict[str, tuple[int, float, float]] = {
    "token_down": (12, 10, 90),
    "token_slow": (6, 2, 8),
    "token_throttle": (12, 0, 0),
    "revoke": (4, 60, 360),  # until the admin reconnects
    "mail_down": (24, 5, 60),
    "mail_timeout": (6, 0, 0),
    "mail_throttle": (12, 0, 0),
    "restart": (24, 0, 0),
    "clock_jump": (1, 120, 120),
}
TOKEN_REASONS = {"token_unavailable", "not_connected", "reauthorization_required"}


@dataclass(order=True)
class Event:
    at: float
    kind: str = field(compare=False)
    mailbox: str = field(compare=False, default="")
    ending: bool = field(compare=False, default=False)
    minutes: float = field(compare=False, default=0.0)


@dataclass
class Year:
    """What the simulation saw."""

    accepted: dict[str, str] = field(default_factory=dict)  # message id -> mailbox
    refused: Counter[str] = field(default_factory=Counter)
    token_refusals_while_valid: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    late_marks: list[str] = field(default_factory=list)


def schedule(rng: random.Random, start: float, names: list[str]) -> list[Event]:
    events: list[Event] = []
    span = HOURS * 3600.0
    for kind, (per_year, shortest, longest) in FAULTS.items():
        for _ in range(max(1, round(per_year * HOURS / 8760))):
            at = start + rng.uniform(0.02, 0.9) * span
            events.append(
                Event(at, kind, rng.choice(names), minutes=rng.uniform(shortest, longest))
            )
    for name in names:
        at = start
        while True:
            at += rng.expovariate(1 / (SEND_EVERY_HOURS * 3600))
            if at >= start + span:
                break
            events.append(Event(at, "send", name))
    heapq.heapify(events)
    return events


def test_a_year_of_bad_days(
    fake_zoho: FakeZoho,
    clock: FakeClock,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., tuple[Flask, FlaskClient]],
    report: Callable[[str], None],
) -> None:
    fake = fake_zoho
    fake.slow_seconds = 0.3  # a "timeout" stalls this long, in real time
    settings = make_settings(fake, zoho_timeout_seconds=0.2)

    def worker() -> tuple[Flask, FlaskClient]:
        """A gateway process: its own state connections and its own session to the fake."""
        session = ZohoSession(settings.zoho_timeout_seconds)
        session.mount(fake.url, InProcessAdapter(fake.app))
        return make_app(settings, session=session)

    workers = [worker(), worker()]

    def admin() -> FlaskClient:
        return workers[0][1]  # whichever process is worker 0 now (restarts replace it)

    names = [f"mb{i}" for i in range(MAILBOXES)]
    keys: dict[str, str] = {}
    tokens: dict[str, str] = {}  # mailbox -> its refresh token now
    for name in names:
        tokens[name] = fake.add_account(f"{name}@acme.example")
        created = admin().post(
            "/api/email/mailboxes",
            json={"name": name, "refresh_token": tokens[name], "accounts_server": fake.url},
            headers=admin_header(),
        )
        assert created.status_code == 201, created.get_json()
        keys[name] = (
            admin()
            .post(f"/api/email/mailboxes/{name}/keys", headers=admin_header())
            .get_json()["key"]
        )
    rng = random.Random(SEED)
    start = clock.now()
    events = schedule(rng, start, names)
    year = Year()
    revoked_at: dict[str, float] = {}  # mailbox -> when Zoho stopped taking its token
    report(f"simulated year: seed {SEED} (replay: MAILER_YEAR_SEED={SEED}), {HOURS} hours")

    def status(name: str) -> str:
        view = admin().get(f"/api/email/mailboxes/{name}", headers=admin_header()).get_json()
        return str(view["status"])

    def send(name: str) -> None:
        client = workers[rng.randrange(2)][1]
        answer = client.post(
            "/api/email/send",
            json={"to": "paula@example.com", "subject": f"{name} {clock.now():.0f}", "text": "hi"},
            headers=auth_header(keys[name]),
        )
        if answer.status_code in (200, 202):
            year.accepted[answer.get_json()["id"]] = name
            return
        code = answer.get_json()["error"]["code"]
        year.refused[code] += 1
        if code in TOKEN_REASONS and name not in revoked_at:
            year.token_refusals_while_valid.append(
                f"{name} at +{clock.now() - start:.0f} s: {code}"
            )

    def apply(event: Event) -> None:
        token = tokens[event.mailbox]
        if not event.ending:
            year.faults[event.kind] += 1
        if event.kind == "token_down":
            fake.token_down = not event.ending
        elif event.kind == "token_slow":
            if event.ending:
                fake.token_delay_for.pop(token, None)
            else:
                fake.token_delay_for[token] = 0.25
        elif event.kind == "token_throttle":
            fake.token_failures_for.setdefault(token, deque()).extend(["throttle"] * 2)
        elif event.kind == "revoke":
            if event.ending:
                reconnect(event.mailbox)
            elif event.mailbox not in revoked_at:
                fake.revoke(token)
                revoked_at[event.mailbox] = clock.now()
        elif event.kind == "mail_down":
            fake.mail_down = not event.ending
        elif event.kind == "mail_timeout":
            fake.mail_failures.extend(["timeout"])
        elif event.kind == "mail_throttle":
            fake.mail_failures.extend(["throttle"])
        elif event.kind == "restart":
            index = rng.randrange(2)
            workers[index][0].extensions["mailer"].storage.close()
            workers[index] = worker()
        elif event.kind == "clock_jump":
            clock.advance(event.minutes * 60)
        if not event.ending and event.minutes and event.kind not in ("clock_jump",):
            heapq.heappush(
                events,
                Event(clock.now() + event.minutes * 60, event.kind, event.mailbox, ending=True),
            )

    def reconnect(name: str) -> None:
        link = (
            admin()
            .post(f"/api/email/mailboxes/{name}/connect-link", headers=admin_header())
            .get_json()
        )
        fake.consent_as = f"{name}@acme.example"
        page = follow_link(admin(), fake, link["connect_url"])
        fake.consent_as = None
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        tokens[name] = list(fake.accounts)[-1]  # the consent made a refresh token for it
        revoked_at.pop(name, None)
        year.reconnects += 1

    def step() -> None:
        for app, _ in workers:
            gateway = app.extensions["mailer"]
            calls_before = len(fake.token_calls)
            gateway.jobs.tick()
            gateway.jobs.deliver()
            refused_now = {
                n
                for n, at in revoked_at.items()
                if any(
                    c.form.get("refresh_token") == tokens[n] and c.at >= at
                    for c in fake.token_calls[calls_before:]
                )
            }
            for name in refused_now:
                if status(name) != "needs_reconnect":
                    year.late_marks.append(f"{name} at +{clock.now() - start:.0f} s")

    def next_due() -> float:
        """The next moment anything is due: an event, a renewal, a message's attempt or the end
        of its lease; at least a second on, at most 15 minutes (what production's ticks every
        second would see, without ticking 31 million times)."""
        now = clock.now()
        storage = workers[0][0].extensions["mailer"].storage
        due = [events[0].at if events else end, now + 900]
        due += [m.next_renewal_at for m in storage.mailboxes.all() if m.next_renewal_at]
        for name in storage.messages.depths():  # the mailboxes with mail queued or sending
            for waiting in ("queued", "sending"):  # one status a query: its own index
                found = storage.messages.page(name, statuses=(waiting,), limit=100)
                due += [m.leased_until or m.next_attempt_at for m in found]
        return max(now + 1, min(due))

    # A year of "renewed" lines and of the fake's access log would only fill the memory (and
    # the secret guard's search through it): warnings and errors only.
    quiet = [logging.getLogger(name) for name in ("mailer", "werkzeug")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    wall = time.monotonic()
    end = start + HOURS * 3600
    gc.freeze()  # what the suite built before: not for every collection of the year to scan
    try:
        while clock.now() < end:
            clock.time = next_due()
            while events and events[0].at <= clock.now():
                event = heapq.heappop(events)
                if event.kind == "send":
                    send(event.mailbox)
                else:
                    apply(event)
            step()
        # The faults end; what waits goes out.
        fake.token_down = fake.mail_down = False
        fake.token_delay_for.clear()
        for name in list(revoked_at):
            reconnect(name)
        for _ in range(48 * 60):
            clock.advance(60)
            step()
            if all(
                admin()
                .get(f"/api/email/messages?status={s}", headers=auth_header(keys[n]))
                .get_json()["messages"]
                == []
                for n in names
                for s in ("queued", "sending", "scheduled")
            ):
                break
    finally:
        gc.unfreeze()
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    wall = time.monotonic() - wall

    views = {}
    for message_id, name in year.accepted.items():
        views[message_id] = (
            admin()
            .get(f"/api/email/messages/{message_id}", headers=auth_header(keys[name]))
            .get_json()
        )
    outcomes = Counter(v["status"] for v in views.values())
    mints: Counter[str] = Counter()
    windows_over = []
    calls_by_token: dict[str, list[float]] = defaultdict(list)
    for call in fake.token_calls:
        if "refresh_token" in call.form:
            calls_by_token[call.form["refresh_token"]].append(call.at)
    for token, times in calls_by_token.items():
        times.sort()
        left = 0
        for right, at in enumerate(times):
            while at - times[left] >= 600:
                left += 1
            if right - left + 1 > 10:
                windows_over.append(token[-4:])
                break
    owner = {t: a.primary.split("@")[0] for t, a in fake.accounts.items()}
    for _, token in fake.minted:
        if token in owner:
            mints[owner[token]] += 1
    # Renewals: every token minted after the first, but the one each reconnect's exchange gave.
    reconnects = Counter(owner[t] for t in fake.exchanged if t in owner)
    # A token is renewed its lead (600 s) before it expires: ideally one renewal per token.
    ideal = (clock.now() - start) / (fake.expires_in - settings.refresh_lead_seconds)
    per_lifetime = {name: (mints[name] - 1 - reconnects[name]) / ideal for name in names}
    report(
        f"  {wall:.0f} s of wall time; {len(year.accepted)} sends accepted, outcomes {dict(outcomes)}; "
        f"refused {dict(year.refused)}\n  faults {dict(year.faults)}; {year.reconnects} reconnects\n"
        f"  renewals per lifetime: "
        + ", ".join(f"{n} {r:.3f}" for n, r in per_lifetime.items())
        + f"\n  token calls over 10 per 10 minutes: {len(windows_over)}; marked late: {len(year.late_marks)}"
    )
    assert year.token_refusals_while_valid == []
    assert outcomes == Counter({"sent": len(year.accepted)}), outcomes
    assert all(rate <= 1.05 for rate in per_lifetime.values()), per_lifetime
    assert windows_over == []
    assert year.late_marks == []
