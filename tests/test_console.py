"""The admin console in a real browser: Debian's headless Chromium driven by Playwright.

Every action is done by clicking its button (found by its accessible name) and checked
through the admin API; a forged cross-site form, a POST without the CSRF token and one from
another origin are refused and change nothing; axe-core finds no serious or critical
violation on any page; no page asks anything of another host.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import ADMIN_KEY, START, admin_header, auth_header, served
from tests.fake_zoho import FakeZoho
from tests.gunicorn_server import seeded_env, two_hosts

HOSTILE = '<img src=x onerror="document.title=1">'
pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def browser(browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    """pytest-playwright's browser, for this module only: Playwright's event loop stops with
    it, so the asyncio tests (the SMTP door) that run after it in this process have theirs."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**browser_type_launch_args)
        yield launched
        launched.close()


class Console:
    """The connected gateway on a real port with mailboxes billing (connected) and shop (not),
    and a sent message; ``requests`` records every URL the browser asked for."""

    def __init__(self, app: Flask, client: FlaskClient, fake: FakeZoho, base: str) -> None:
        self.app, self.client, self.fake, self.base = app, client, fake, base
        self.requested: list[str] = []

    def api(self, path: str) -> Any:
        return self.client.get(f"/api/email{path}", headers=admin_header())

    def sign_in(self, page: Page) -> None:
        page.goto(f"{self.base}/signin")
        page.get_by_label("Admin key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()


@pytest.fixture
def console(connected: tuple[Flask, FlaskClient, FakeZoho]) -> Iterator[Console]:
    app, client, fake = connected
    client.post(
        "/api/email/mailboxes",
        json={"name": "billing", "refresh_token": fake.add_account("billing@acme.example")},
        headers=admin_header(),
    )
    client.post("/api/email/mailboxes", json={"name": "shop"}, headers=admin_header())
    sent = {"to": "Ann <ann@example.com>", "subject": HOSTILE, "text": "hi", "tags": ["welcome"]}
    assert client.post("/api/email/send", json=sent, headers=auth_header()).status_code == 200
    with served(app) as base:
        yield Console(app, client, fake, base)


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    """A browser in New York's time zone that records every request it makes."""
    ctx = browser.new_context(timezone_id="America/New_York", locale="en-US")
    ctx.on("request", lambda request: console.requested.append(request.url))
    yield ctx
    ctx.close()


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, by rule and element."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['html'][:120] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_signed_out_the_root_is_the_public_page_and_pages_ask_to_sign_in(
    console: Console,
) -> None:
    public = requests.get(console.base, timeout=5)
    assert public.status_code == 200 and "/api/email/openapi.json" in public.text
    for private in ("billing", "ann@example.com", "Queue"):
        assert private not in public.text
    assert "Set-Cookie" not in public.headers  # nothing is kept for someone who only looks
    for path in ("/mailboxes/billing", "/messages", "/?signin=1"):
        answer = requests.get(console.base + path, allow_redirects=False, timeout=5)
        assert (answer.status_code, answer.headers["Location"]) == (303, "/signin"), path
    wrong = requests.post(
        console.base + "/signin", data={"password": "wrong"}, timeout=5, allow_redirects=False
    )
    assert wrong.status_code == 403  # no CSRF token: refused before the password is looked at


def test_http_basic_opens_the_pages_for_reading_but_never_a_form(console: Console) -> None:
    basic = ("admin", ADMIN_KEY)
    page = requests.get(console.base + "/mailboxes/billing", auth=basic, timeout=5)
    assert page.status_code == 200 and "billing@acme.example" in page.text
    removed = requests.post(console.base + "/mailboxes/shop/remove", auth=basic, timeout=5)
    assert removed.status_code == 403
    assert console.api("/mailboxes/shop").status_code == 200


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_it(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    page.goto(f"{console.base}/signin")
    page.get_by_label("Admin key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin key.")
    console.sign_in(page)
    (cookie,) = context.cookies()
    assert cookie["name"] == "mailer_console"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain http here; https below
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    old = {cookie["name"]: cookie["value"]}
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    # The cookie from before sign-out, replayed with its CSRF token: no longer a session.
    again = requests.get(
        console.base + "/mailboxes/billing", cookies=old, timeout=5, allow_redirects=False
    )
    assert again.status_code == 303
    forged = requests.post(
        console.base + "/mailboxes/shop/remove",
        data={"csrf_token": token},
        cookies=old,
        timeout=5,
    )
    assert forged.status_code == 403
    assert console.api("/mailboxes/shop").status_code == 200


def test_the_cookie_is_secure_under_https(console: Console) -> None:
    for extra in (
        {"base_url": "https://gateway.example"},
        {"headers": {"X-Forwarded-Proto": "https"}},
    ):
        form = console.client.get("/signin", **extra)
        assert "Secure" in form.headers["Set-Cookie"], extra
        assert "SameSite=Strict" in form.headers["Set-Cookie"]
        assert "HttpOnly" in form.headers["Set-Cookie"]


def test_every_action_in_the_browser_is_reflected_by_the_admin_api(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    console.sign_in(page)

    # Add mailbox: its connect link is shown to copy.
    page.get_by_label("New mailbox's name").fill("clinic")
    page.get_by_role("button", name="Add mailbox").click()
    link = page.get_by_label("Connect link").input_value()
    assert "/api/email/connect/" in link
    assert console.api("/mailboxes/clinic").json["status"] == "not_connected"

    # Reconnect: a new connect link for the mailbox.
    page.goto(f"{console.base}/mailboxes/billing")
    page.get_by_role("button", name="Reconnect").click()
    assert page.get_by_label("Connect link").input_value() != link

    # Create key (shown once) and Revoke.
    page.goto(f"{console.base}/mailboxes/billing")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("API key").input_value()
    status = console.client.get("/api/email/status", headers=auth_header(key))
    assert status.json["mailbox_name"] == "billing"
    page.get_by_role("link", name="Back to the mailbox").click()
    page.locator("#keys").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    assert console.client.get("/api/email/messages", headers=auth_header(key)).status_code == 401

    # A suppressed address, removed.
    console.client.post(
        "/api/email/mailboxes/billing/suppressions",
        json={"address": "gone@example.com"},
        headers=admin_header(),
    )
    page.goto(f"{console.base}/mailboxes/billing")
    row = page.locator("#suppressions tr", has_text="gone@example.com")
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("removed from the suppression list")
    assert console.api("/mailboxes/billing/suppressions").json["suppressions"] == []

    # Remove (asks to confirm).
    page.goto(f"{console.base}/mailboxes/shop")
    page.get_by_role("link", name="Remove").click()
    expect(page.get_by_role("heading", name="Remove mailbox shop?")).to_be_visible()
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("Mailbox shop removed")
    assert console.api("/mailboxes/shop").status_code == 404


def test_resume_cancel_retry_search_and_a_messages_history(
    context: BrowserContext, console: Console
) -> None:
    client, fake = console.client, console.fake
    # A message Zoho rejects for good, with its attempt and Zoho's answer.
    fake.mail_failures.append("reject:EXTRA_KEY_FOUND_IN_JSON")
    failed = client.post(
        "/api/email/send",
        json={"to": "rob@example.com", "subject": "Refused", "text": "x"},
        headers=auth_header(),
    ).json["id"]
    later = datetime.fromtimestamp(START + 30 * 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = client.post(
        "/api/email/send",
        json={"to": "sam@example.com", "subject": "Later", "text": "x", "send_at": later},
        headers=auth_header(),
    ).json["id"]
    page = context.new_page()
    console.sign_in(page)

    page.goto(f"{console.base}/messages/{failed}")
    expect(page.locator("#attempts")).to_contain_text("EXTRA_KEY_FOUND")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("Queued again")
    view = client.get(f"/api/email/messages/{failed}", headers=auth_header()).json
    assert view["status"] in ("queued", "sent")

    page.goto(f"{console.base}/messages/{scheduled}")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_contain_text("Canceled")
    view = client.get(f"/api/email/messages/{scheduled}", headers=auth_header()).json
    assert view["status"] == "canceled"

    page.goto(f"{console.base}/messages")
    page.get_by_label("Recipient").fill("ANN@example")
    page.get_by_role("button", name="Search").click()
    results = page.locator("table.messages")
    expect(results).to_contain_text(HOSTILE)  # shown as text: the template escaped it
    expect(results).not_to_contain_text("sam@example.com")
    page.get_by_label("Tag").fill("welcome")
    page.get_by_label("Recipient").fill("")
    page.get_by_label("Status").select_option("sent")
    page.get_by_role("button", name="Search").click()
    expect(results).to_contain_text("ann@example.com")
    page.get_by_label("Mailbox").fill("billing")
    page.get_by_role("button", name="Search").click()
    expect(results).to_contain_text("Nothing matches.")

    # Resume a held mailbox: Zoho says the account may not send.
    fake.mail_unknown = "blocked"
    client.post(
        "/api/email/send",
        json={"to": "a@example.com", "subject": "b", "text": "c"},
        headers=auth_header(),
    )
    fake.mail_unknown = None
    assert console.api("/mailboxes/default").json["hold"] is not None
    page.goto(f"{console.base}/mailboxes/default")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("Resumed")
    assert console.api("/mailboxes/default").json["hold"] is None


def test_a_forged_cross_site_post_is_refused_and_changes_nothing(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    console.sign_in(page)
    target = f"{console.base}/mailboxes/billing/remove"
    evil = _EvilSite(target)
    try:
        # Another site (localhost is not 127.0.0.1) whose page posts the form on its own.
        page.goto(f"http://localhost:{evil.port}/")
        page.wait_for_url(target)
        assert "403" in page.title() or page.locator("h1").inner_text() == "That did not work"
    finally:
        evil.close()
    assert console.api("/mailboxes/billing").status_code == 200
    # Signed in, but without the token, or with it from another origin: 403, nothing changed.
    bare = page.request.post(target, form={})
    assert bare.status == 403 and "csrf_failed" in bare.text()
    page.goto(f"{console.base}/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    crossed = page.request.post(
        target, form={"csrf_token": token}, headers={"Origin": "http://localhost:1"}
    )
    assert crossed.status == 403 and "cross_site_request" in crossed.text()
    assert console.api("/mailboxes/billing").status_code == 200


class _EvilSite:
    """A page on another site that submits a form to the console as soon as it loads."""

    def __init__(self, target: str) -> None:
        page = (
            f'<!doctype html><form method="post" action="{target}">'
            '<input name="csrf_token" value="guess"></form>'
            "<script>document.forms[0].submit()</script>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("localhost", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_every_page_is_accessible_local_only_and_fits_a_phone(
    browser: Browser, console: Console
) -> None:
    phone = browser.new_context(
        viewport={"width": 375, "height": 740}, timezone_id="Asia/Kolkata", locale="en-GB"
    )
    phone.on("request", lambda request: console.requested.append(request.url))
    page = phone.new_page()
    message_id = console.client.get("/api/email/messages", headers=auth_header()).json["messages"][
        0
    ]["id"]
    public = [f"{console.base}/", f"{console.base}/signin"]
    for url in public:
        page.goto(url)
        assert serious(page) == [], url
    console.sign_in(page)
    pages = [
        "/",
        "/mailboxes/billing",
        "/mailboxes/shop",
        "/mailboxes/shop/remove",
        "/messages",
        "/messages?recipient=ann",
        f"/messages/{message_id}",
    ]
    for path in pages:
        page.goto(console.base + path)
        assert serious(page) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    page.goto(f"{console.base}/mailboxes/billing")
    page.get_by_role("button", name="Create key").click()
    assert serious(page) == []
    page.goto(f"{console.base}/mailboxes/nobody")  # the error page
    assert serious(page) == []
    link = console.client.post("/api/email/mailboxes/shop/connect-link", headers=admin_header())
    path = "/api/email/connect/" + link.json["connect_url"].rsplit("/", 1)[1]
    console.client.get(path)  # opened once (its consent begins at Zoho)
    page.goto(f"{console.base}{path}?hop=1")  # the used link's page (already on its host)
    expect(page.get_by_role("heading", name="This connect link was used")).to_be_visible()
    assert serious(page) == []
    phone.close()
    assert console.requested and all(u.startswith(console.base) for u in console.requested), {
        u for u in console.requested if not u.startswith(console.base)
    }


def test_times_show_in_the_browsers_time_zone_with_utc_in_the_title(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    console.sign_in(page)
    first = page.locator("table.messages time").first
    title = first.get_attribute("title") or ""
    assert title.endswith(" UTC")
    utc = datetime.strptime(title, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    shown = first.inner_text()
    assert "UTC" not in shown
    new_york = utc.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert new_york.strftime("%-I:%M") in shown, (shown, title)


def test_the_overview_draws_the_weeks_messages_with_a_text_alternative(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    console.sign_in(page)
    chart = page.get_by_role("img", name="Messages per hour, all mailboxes")
    expect(chart).to_be_visible()
    assert "1 sent, 0 failed, 0 bounced" in (chart.locator("desc").text_content() or "")
    page.get_by_text("Messages by day, as a table").click()
    expect(page.locator("details table").first).to_contain_text("1")


def test_screenshots_of_the_overview_a_mailbox_and_a_message(
    browser: Browser, console: Console, clock: Any, tmp_path: Any
) -> None:
    """A week of mail, photographed as a person sees it: ``make screenshots`` writes these
    into docs/console/ (SCREENSHOTS_DIR); CI writes them to a temporary directory."""
    client, fake = console.client, console.fake
    failing = None
    for hour in range(0, 7 * 24, 5):
        clock.advance(5 * 3600)
        for n in range(hour % 4 + 1):
            if (hour + n) % 11 == 0:
                fake.mail_failures.append("reject:INVALID_DATA")
            answer = client.post(
                "/api/email/send",
                json={"to": f"customer{hour + n}@example.com", "subject": f"Order {hour + n}",
                      "text": "Thank you", "tags": ["orders"]},
                headers=auth_header(),
            )  # fmt: skip
            if answer.status_code == 502:
                failing = answer.json["id"]
    assert failing is not None
    out = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "overview.png": ("/", {"width": 1200, "height": 900}),
        "mailbox.png": ("/mailboxes/default", {"width": 1200, "height": 900}),
        "message.png": (f"/messages/{failing}", {"width": 1200, "height": 900}),
        "overview-phone.png": ("/", {"width": 390, "height": 844}),
    }
    for name, (path, viewport) in shots.items():
        context = browser.new_context(viewport=viewport, timezone_id="Europe/Berlin")
        page = context.new_page()
        console.sign_in(page)
        page.goto(console.base + path)
        page.screenshot(path=str(out / name), full_page=True)
        context.close()
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_a_bad_search_is_400_naming_what_is_wrong_and_unknown_pages_are_404(
    console: Console,
) -> None:
    basic = ("admin", ADMIN_KEY)
    for query, words in (
        ("status=lost", "status must be one of"),
        ("since=yesterday", "since is a date and time"),
        ("before=not-a-cursor", "cursor is not one this API gave out"),
        ("tag=no%20spaces", "tag is 1 to 64"),
        ("mailbox=Not_Valid", "no mailbox has that name"),
        ("tz=99999", "tz is minutes from UTC"),
    ):
        answer = requests.get(f"{console.base}/messages?{query}", auth=basic, timeout=5)
        assert answer.status_code == 400 and words in answer.text, query
    for path in ("/mailboxes/nobody", "/messages/msg_nothing", "/mailboxes/nobody/remove"):
        answer = requests.get(console.base + path, auth=basic, timeout=5)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"].startswith("text/html")


def test_with_no_admin_key_no_one_signs_in(
    fake_zoho: FakeZoho, make_settings: Any, make_app: Any
) -> None:
    _, client = make_app(make_settings(fake_zoho, admin_key=None))
    form = client.get("/signin")
    assert form.status_code == 200 and "The console is off" in form.get_data(as_text=True)
    assert client.get("/", headers=admin_header()).status_code == 200  # the public page
    assert client.get("/mailboxes/default", headers=admin_header()).status_code == 303


def _csrf(page_html: str) -> str:
    return page_html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.mark.slow
def test_a_session_made_on_one_host_works_on_every_worker_of_both_and_ends_everywhere(
    real_fake: FakeZoho, servers: list[Any], tmp_path: Path, state_location: str
) -> None:
    """Two gunicorn hosts of 2 workers on one state: the cookie signed by one is taken by
    every worker of the other, a form works anywhere, and a sign-out on one ends it on all."""
    env = seeded_env(real_fake, tmp_path, MAILER_DB=state_location)
    a, b = two_hosts(servers, env, tmp_path)
    browser = requests.Session()
    form = browser.get(f"{a.url}/signin", timeout=10)
    signed = browser.post(
        f"{a.url}/signin", data={"password": ADMIN_KEY, "csrf_token": _csrf(form.text)},
        headers={"Origin": a.url}, timeout=10, allow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303
    cookie = browser.cookies.get("mailer_console")
    for _ in range(8):  # enough requests to meet every worker of both hosts
        for host in (a, b):
            page = requests.get(f"{host.url}/mailboxes/default", timeout=10,
                                cookies={"mailer_console": cookie}, allow_redirects=False)  # fmt: skip
            assert page.status_code == 200, host.url
    mailbox = requests.get(f"{b.url}/mailboxes/default", cookies={"mailer_console": cookie},
                           timeout=10)  # fmt: skip
    created = requests.post(
        f"{b.url}/mailboxes/default/keys", data={"csrf_token": _csrf(mailbox.text)},
        cookies={"mailer_console": cookie}, headers={"Origin": b.url}, timeout=10,
    )  # fmt: skip
    assert created.status_code == 201 and "mk_" in created.text
    out = requests.post(
        f"{b.url}/signout", data={"csrf_token": _csrf(mailbox.text)},
        cookies={"mailer_console": cookie}, headers={"Origin": b.url}, timeout=10,
        allow_redirects=False,
    )  # fmt: skip
    assert out.status_code == 303
    for host in (a, b):
        for _ in range(4):
            after = requests.get(f"{host.url}/mailboxes/default", timeout=10,
                                 cookies={"mailer_console": cookie}, allow_redirects=False)  # fmt: skip
            assert after.status_code == 303, host.url


def test_behind_a_proxy_that_rewrites_host_the_forwarded_host_is_this_site(
    console: Console,
) -> None:
    client = console.app.test_client()
    form = client.get("/signin").get_data(as_text=True)
    proxied = {"X-Forwarded-Host": "mail.example.com"}
    data = {"password": ADMIN_KEY, "csrf_token": _csrf(form)}
    evil = client.post("/signin", data=data, headers={**proxied, "Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json["error"]["code"] == "cross_site_request"
    ours = client.post(
        "/signin", data=data, headers={**proxied, "Origin": "https://mail.example.com"}
    )
    assert ours.status_code == 303
