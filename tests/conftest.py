"""Fixtures: a fake clock, a fake Zoho on loopback, settings, the app, and the secret guard.

The secret guard is autouse: every log record of every test (at DEBUG) and every response a
test client receives are searched for every secret the test configured or the fake issued.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import random
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from mailer import create_app, prepare_state
from mailer.config.settings import Settings
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from tests.fake_zoho import PRIMARY, FakeZoho
from tests.postgres import PostgresServer

API_KEY = "test-api-key-0123456789abcdef"
OTHER_API_KEY = "test-api-key-rotated-fedcba987"
ADMIN_KEY = "test-admin-key-5678"
START = 1_790_000_000.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that starts gunicorn (through the ``servers`` fixture) is ``slow``; the
    longest (``soak``, ``chaos``) come first, so that a run on several cores starts each on a
    core of its own instead of ending on one of them."""
    for item in items:
        if "servers" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    items.sort(
        key=lambda item: (
            item.get_closest_marker("soak") is None and item.get_closest_marker("chaos") is None
        )
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the long tests measured (``report``), listed at the end of the run."""
    reports = [
        (report.nodeid, [str(value) for name, value in report.user_properties if name == "report"])
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
    ]
    if any(lines for _, lines in reports):
        terminalreporter.section("measured")
    for test, lines in reports:
        if lines:
            terminalreporter.line(test)
            for line in lines:
                terminalreporter.line(f"  {line}")


@pytest.fixture
def report(record_property: Callable[[str, object], None]) -> Callable[[str], None]:
    """Say what a test measured: printed (shown if it fails) and listed at the end of the run,
    from whichever process ran it."""

    def say(text: str) -> None:
        print(text)
        for line in text.strip().splitlines():
            record_property("report", line.strip())

    return say


class FakeClock:
    """A clock that moves only when told (or, with ``step``, by that much after each reading:
    a slow machine)."""

    def __init__(self, start: float = START) -> None:
        self.time = start
        self.step = 0.0

    def now(self) -> float:
        read = self.time
        self.time += self.step
        return read

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)


# The shape of every token and code the fake Zoho issues.
FAKE_TOKEN = re.compile(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}")


class SecretGuard:
    """Collects secrets and everything a test saw, and says where any secret leaked."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.fakes: list[FakeZoho] = []
        self.records: list[str] = []
        self.responses: list[tuple[str, str]] = []

    def all_secrets(self) -> set[str]:
        found = set(self.secrets)
        for fake in self.fakes:
            found.update(fake.secrets)
        return {s for s in found if s}

    def leaks(self) -> list[str]:
        # The callback page shows the refresh token it just obtained, once; nothing else.
        shown_once = {t for fake in self.fakes for t in fake.exchanged}
        secrets = self.all_secrets()
        # The fake's tokens all look alike: one search of each text for that shape, then a set
        # look-up, instead of a search for each of a simulated year's 50,000 tokens.
        shaped = {s for s in secrets if FAKE_TOKEN.fullmatch(s)}
        others = secrets - shaped

        def found(text: str) -> set[str]:
            return (set(FAKE_TOKEN.findall(text)) & shaped) | {s for s in others if s in text}

        problems = []
        for line in self.records:
            for secret in found(line):
                problems.append(f"log line holds a secret …{secret[-4:]}: {line[:200]}")
        for where, text in self.responses:
            for secret in found(text):
                if not (where.startswith("/api/email/callback") and secret in shown_once):
                    problems.append(f"response of {where} holds a secret …{secret[-4:]}")
        return problems


class _Capture(logging.Handler):
    def __init__(self, guard: SecretGuard) -> None:
        super().__init__(logging.DEBUG)
        self.guard = guard
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.guard.records.append(text)


@pytest.fixture(autouse=True)
def secret_guard() -> Iterator[SecretGuard]:
    guard = SecretGuard()
    handler = _Capture(guard)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield guard
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    leaks = guard.leaks()
    assert not leaks, "\n".join(leaks)


class RecordingClient(FlaskClient):
    """A test client that hands every response to the secret guard."""

    guard: SecretGuard | None = None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if self.guard is not None:
            path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "?")
            text = response.get_data(as_text=True) + "\n" + str(response.headers)
            self.guard.responses.append((str(path), text))
        return response


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_zoho(clock: FakeClock, secret_guard: SecretGuard) -> Iterator[FakeZoho]:
    """A fake Zoho that follows the test's fake clock."""
    fake = FakeZoho(clock=clock).start()
    secret_guard.fakes.append(fake)
    yield fake
    fake.stop()


@pytest.fixture
def make_settings(tmp_path: Path, secret_guard: SecretGuard) -> Callable[..., Settings]:
    """Settings for the zoho transport against a fake; keyword arguments override."""

    def build(fake: FakeZoho | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "transport": "zoho",
            "db": str(tmp_path / "state" / "mailer.sqlite3"),
            "outbox_dir": str(tmp_path / "outbox"),
            "api_keys": (API_KEY, OTHER_API_KEY),
            "admin_key": ADMIN_KEY,
            "zoho_timeout_seconds": 1.0,
            # Pacing has its own tests; elsewhere it would only queue what a test sends inline.
            "rate_limits": (),
            # So has back-pressure; elsewhere it would refuse what a test sends again and again.
            "accept_limits": (),
            "max_queued": None,
            "repeat_limits": (),
        }
        if fake is not None:
            values.update(
                zoho_client_id=fake.client_id,
                zoho_client_secret=fake.client_secret,
                zoho_redirect_uri=fake.redirect_uri,
                zoho_accounts_url=fake.url,
                zoho_api_domain=fake.url,
            )
        values.update(overrides)
        settings = Settings(**values)
        secret_guard.secrets.update(settings.secrets)
        return settings

    return build


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    yield server
    server.close()


@pytest.fixture
def restartable_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A server of this test's own, so that stopping it touches no other test."""
    server = PostgresServer(tmp_path_factory.mktemp("restart-pg"))
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's state lives, once per engine: a SQLite file, or a fresh database."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "mailer.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def open_state() -> Iterator[Callable[[str], Storage]]:
    """Open storages (migrated) that are closed after the test."""
    opened: list[Storage] = []

    def open_one(location: str) -> Storage:
        storage = open_storage(location)
        opened.append(storage)
        storage.migrate()
        return storage

    yield open_one
    for storage in opened:
        storage.close()


@pytest.fixture
def make_app(
    clock: FakeClock, secret_guard: SecretGuard
) -> Iterator[Callable[[Settings], tuple[Flask, FlaskClient]]]:
    apps: list[Flask] = []

    def build(settings: Settings, **wiring: Any) -> tuple[Flask, FlaskClient]:
        app = create_app(settings, clock=clock, rng=random.Random(7), inline=True, **wiring)
        apps.append(app)
        prepare_state(app)
        app.test_client_class = RecordingClient
        RecordingClient.guard = secret_guard
        return app, app.test_client()

    yield build
    for app in apps:
        app.extensions["mailer"].storage.close()


@pytest.fixture
def connected(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> tuple[Flask, FlaskClient, FakeZoho]:
    """A gateway seeded with a refresh token the fake knows, after its startup."""
    settings = make_settings(fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token())
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    return app, client, fake_zoho


@pytest.fixture
def real_fake(secret_guard: SecretGuard) -> Iterator[FakeZoho]:
    """A fake Zoho on the real clock, for gateways under gunicorn (which run on it)."""
    fake = FakeZoho().start()
    secret_guard.fakes.append(fake)
    yield fake
    fake.stop()


@pytest.fixture
def servers(secret_guard: SecretGuard) -> Iterator[list[Any]]:
    """Every gunicorn a test starts: stopped after it, and its whole log searched for secrets."""
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()
        secret_guard.records.extend(server.log().splitlines())


@contextlib.contextmanager
def served(app: Flask, port: int = 0) -> Iterator[str]:
    """``app`` on a real loopback port, in a thread, for as long as the block runs; yields
    its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


# A plain message, for tests that only need one to go out.
MESSAGE: dict[str, Any] = {"to": "paula@example.com", "subject": "Hello", "text": "hi"}


def send(
    client: FlaskClient,
    body: Any = MESSAGE,
    *,
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST /api/email/send with the default mailbox's key (or ``headers``)."""
    sent_headers = dict(headers if headers is not None else auth_header())
    if idempotency_key is not None:
        sent_headers["Idempotency-Key"] = idempotency_key
    return client.post("/api/email/send", json=body, headers=sent_headers)


def admin_header(password: str = ADMIN_KEY) -> dict[str, str]:
    """HTTP Basic with any user name and the admin key."""
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def auth_header(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def plain(subject: str, text: str = "hi") -> EmailMessage:
    """A text message from the mailbox's primary address to one recipient."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = PRIMARY, "paula@example.com", subject
    message.set_content(text)
    return message


def follow_link(client: FlaskClient, fake: FakeZoho, url: str) -> Any:
    """Open a connect link in a browser without the admin password, consent at the fake
    Zoho, and come back to the callback."""
    started = client.get(urlsplit(url).path)
    assert started.status_code == 302, started.get_data(as_text=True)
    zoho = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    back = {k: v[0] for k, v in parse_qs(urlsplit(zoho.headers["Location"]).query).items()}
    return client.get("/api/email/callback", query_string=back, headers={"Accept": "text/html"})


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's browser is Debian's chromium (``make chromium`` installs it)."""
    executable = shutil.which("chromium")
    assert executable is not None, "make test installs Debian's chromium"
    return {**browser_type_launch_args, "executable_path": executable, "args": ["--no-sandbox"]}
