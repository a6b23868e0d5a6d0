"""The page at ``/``: for anyone, what this is; for the admin, every mailbox and the last
messages, rendered by a real browser (Debian's headless Chromium) with every value escaped."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.conftest import ADMIN_KEY, admin_header, auth_header
from tests.fake_zoho import FakeZoho

HOSTILE = '<img src=x onerror="document.title=1">'


@pytest.fixture
def served(connected: tuple[Flask, FlaskClient, FakeZoho]) -> Iterator[tuple[str, FlaskClient]]:
    """The connected gateway on a real loopback port, with a second mailbox and messages."""
    app, client, fake = connected
    client.post(
        "/api/email/mailboxes",
        json={"name": "billing", "refresh_token": fake.add_account("billing@acme.example")},
        headers=admin_header(),
    )
    client.post("/api/email/mailboxes", json={"name": "shop"}, headers=admin_header())
    sent = {"to": "Ann <ann@example.com>", "subject": HOSTILE, "text": "hi"}
    assert client.post("/api/email/send", json=sent, headers=auth_header()).status_code == 200
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", client
    server.shutdown()
    server.server_close()


def chromium(*args: str) -> Any:
    browser = shutil.which("chromium")
    assert browser is not None, "make test installs Debian's chromium"
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_anyone_sees_what_this_is_and_nothing_more(served: tuple[str, FlaskClient]) -> None:
    _, client = served
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/api/email/openapi.json" in text
    for private in ("billing", "rebecca@zylker.com", "ann@example.com", "Queue"):
        assert private not in text
    wrong = client.get("/", headers=admin_header("wrong"))
    assert "billing" not in wrong.get_data(as_text=True)
    challenge = client.get("/?signin=1", headers={"Accept": "text/html"})
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"].startswith("Basic")
    assert "<h1>Sign-in needed</h1>" in challenge.get_data(as_text=True)


def test_the_admin_page_renders_in_a_real_browser_with_every_value_escaped(
    served: tuple[str, FlaskClient],
) -> None:
    address, _ = served
    dom = chromium("--dump-dom", f"http://admin:{ADMIN_KEY}@{address}/?signin=1")
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert '<table id="mailboxes">' in html
    for cell in ("default", "billing", "shop", "billing@acme.example", "not connected"):
        assert f"<td>{cell}</td>" in html or f">{cell}<" in html, cell
    assert 'href="/api/email/auth?mailbox=shop"' in html
    # The hostile subject is text in the page, not an element: escaped by the template.
    assert "&lt;img src=x onerror=" in html
    assert "<img" not in html
    assert "<title>Zoho Mail gateway: 3 mailboxes</title>" in html  # no script changed it


def test_the_page_as_a_person_sees_it(served: tuple[str, FlaskClient], tmp_path: Any) -> None:
    address, _ = served
    shot = tmp_path / "home.png"
    result = chromium(
        f"--screenshot={shot}",
        "--window-size=1200,800",
        f"http://admin:{ADMIN_KEY}@{address}/?signin=1",
    )
    assert result.returncode == 0, result.stderr
    assert shot.read_bytes().startswith(b"\x89PNG")
