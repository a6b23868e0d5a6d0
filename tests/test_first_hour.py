"""What a newcomer meets in the first hour: the setup flow across 127.0.0.1 and localhost, a
reloaded success page, a wrong data centre, a vanished state file, limits and dead ends."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from mailer.config.settings import Settings
from tests.conftest import ADMIN_KEY, MESSAGE, SecretGuard, auth_header, served
from tests.fake_zoho import PRIMARY, FakeZoho
from tests.gunicorn_server import Gunicorn, free_port, seeded_env, start

ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()}


@pytest.fixture
def serve() -> Iterator[Callable[[Flask, int], str]]:
    """Serve apps on given loopback ports until the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app, port: stack.enter_context(served(app, port))


@pytest.mark.parametrize(
    ("opened_at", "redirect_host"), [("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")]
)
def test_setup_works_whichever_host_the_admin_opened(
    opened_at: str,
    redirect_host: str,
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    serve: Callable[[Flask, int], str],
) -> None:
    port = free_port()
    fake_zoho.redirect_uri = f"http://{redirect_host}:{port}/api/email/callback"
    app, _ = make_app(make_settings(fake_zoho, zoho_redirect_uri=fake_zoho.redirect_uri))
    serve(app, port)
    browser = requests.Session()  # keeps cookies per host, as a browser does
    hop = browser.get(
        f"http://{opened_at}:{port}/api/email/auth", headers=ADMIN, allow_redirects=False
    )
    assert hop.status_code == 302
    assert hop.headers["Location"].startswith(f"http://{redirect_host}:{port}/api/email/auth?")
    to_zoho = browser.get(hop.headers["Location"], headers=ADMIN, allow_redirects=False)
    assert to_zoho.headers["Location"].startswith(fake_zoho.url)
    back = browser.get(to_zoho.headers["Location"], allow_redirects=False).headers["Location"]
    page = browser.get(back)
    assert page.status_code == 200 and f"Connected: {PRIMARY}" in page.text
    assert "shown this once" in page.text
    # Reloading the success page says the mailbox is connected, and shows no token again.
    reloaded = browser.get(back)
    assert reloaded.status_code == 200
    assert f"Connected: {PRIMARY}" in reloaded.text and "not shown again" in reloaded.text
    assert all(token not in reloaded.text for token in fake_zoho.exchanged)
    assert len(fake_zoho.token_calls) == 1


def test_the_hop_carries_a_hostile_path_quoted(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    serve: Callable[[Flask, int], str],
) -> None:
    """Found by schemathesis: a control character in a connect link's path made the hop's
    Location header a 500; it is quoted, and the link is then simply unknown."""
    port = free_port()
    fake_zoho.redirect_uri = f"http://localhost:{port}/api/email/callback"
    app, _ = make_app(make_settings(fake_zoho, zoho_redirect_uri=fake_zoho.redirect_uri))
    serve(app, port)
    hop = requests.get(
        f"http://127.0.0.1:{port}/api/email/connect/a%0Ab%1F", allow_redirects=False, timeout=5
    )
    assert hop.status_code == 302
    assert hop.headers["Location"].startswith(
        f"http://localhost:{port}/api/email/connect/a%0Ab%1F?"
    )
    assert requests.get(hop.headers["Location"], timeout=5).status_code == 404


def test_a_callback_without_the_cookie_says_what_to_do_and_logs_it(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    serve: Callable[[Flask, int], str],
    secret_guard: SecretGuard,
) -> None:
    """A proxy that rewrites the host defeats the hop; the page then names the fix."""
    port = free_port()
    fake_zoho.redirect_uri = f"http://localhost:{port}/api/email/callback"
    app, _ = make_app(make_settings(fake_zoho, zoho_redirect_uri=fake_zoho.redirect_uri))
    serve(app, port)
    browser = requests.Session()
    to_zoho = browser.get(  # hop=1: as if it had been redirected once already
        f"http://127.0.0.1:{port}/api/email/auth?hop=1", headers=ADMIN, allow_redirects=False
    )
    back = browser.get(to_zoho.headers["Location"], allow_redirects=False).headers["Location"]
    page = browser.get(back, headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert "brought no cookie" in page.text
    assert f"http://localhost:{port}/api/email/auth" in page.text
    assert "started in another browser" not in page.text
    assert any("came without the flow's cookie" in line for line in secret_guard.records)
    assert fake_zoho.token_calls == []


def test_a_wrong_data_centre_is_warned_at_start_and_named_on_the_setup_page(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    secret_guard: SecretGuard,
) -> None:
    make_app(
        make_settings(
            transport="zoho",
            zoho_client_id="1000.X",
            zoho_client_secret="s3cret-x",
            zoho_accounts_url="https://accounts.zoho.eu",
            zoho_api_domain="https://mail.zoho.com",
        )
    )
    warning = [line for line in secret_guard.records if "ZOHO_API_DOMAIN is" in line]
    assert warning and "https://mail.zoho.eu" in warning[0]

    _, client = make_app(make_settings(fake_zoho))
    to_zoho = client.get("/api/email/auth", headers=ADMIN)
    back = requests.get(to_zoho.headers["Location"], allow_redirects=False).headers["Location"]
    fake_zoho.mail_down = True  # the Mail host does not answer the account look-up
    page = client.get(back.split(":8000", 1)[1], headers={"Accept": "text/html"})
    assert page.status_code == 502
    text = page.get_data(as_text=True)
    assert fake_zoho.url in text and "ZOHO_API_DOMAIN" in text


def test_status_says_which_mail_host_is_in_force_and_why(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token())
    _, client = make_app(settings)
    status = client.get("/api/email/status", headers=auth_header()).get_json()
    assert status["mail_api"] == fake_zoho.url and status["mail_api_source"] == "ZOHO_API_DOMAIN"


def test_a_state_file_deleted_while_running_is_503_with_a_reason(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    secret_guard: SecretGuard,
) -> None:
    settings = make_settings(fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token())
    _, client = make_app(settings)
    assert client.post("/api/email/send", json=MESSAGE, headers=auth_header()).status_code == 200
    for path in Path(settings.db).parent.glob("mailer.sqlite3*"):
        path.unlink()
    for answer in (
        client.get("/api/email/status", headers=auth_header()),
        client.get("/api/email/health"),
        client.post("/api/email/send", json=MESSAGE, headers=auth_header()),
    ):
        assert answer.status_code == 503
        assert answer.get_json()["error"]["code"] == "state_unavailable"
        assert "was deleted while the gateway ran" in answer.get_json()["error"]["message"]
    assert not Path(settings.db).exists()  # not silently recreated empty
    assert sum("was deleted while the gateway ran" in r for r in secret_guard.records) == 1


def test_a_second_gateway_on_a_busy_port_touches_no_state(
    real_fake: FakeZoho, tmp_path: Path, servers: list[Gunicorn]
) -> None:
    first = start(servers, seeded_env(real_fake, tmp_path), tmp_path)
    other_dir = tmp_path / "second"
    other_dir.mkdir()
    second = Gunicorn(seeded_env(real_fake, other_dir), other_dir / "gunicorn.log")
    second.port, second.url = first.port, first.url  # the same, busy, port
    servers.append(second)
    second.start(wait_ready=False)
    assert second.process is not None
    assert second.process.wait(timeout=60) != 0
    assert not (other_dir / "state").exists()
    assert "gateway started" not in second.log()


def test_limits_and_dead_ends_say_what_exists(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), max_request_mb=1
    )
    _, client = make_app(settings)
    big = {**MESSAGE, "attachments": [{"filename": "a.bin", "content": "A" * 1_100_000}]}
    too_large = client.post("/api/email/send", json=big, headers=auth_header())
    assert too_large.status_code == 413
    assert "about 0.75 MB" in too_large.get_json()["error"]["message"]
    missing = client.get("/api/email/sned")
    assert missing.status_code == 404
    assert "/api/email/openapi.json" in missing.get_json()["error"]["message"]
    wrong_method = client.get("/api/email/send")
    assert wrong_method.status_code == 405
    assert "allowed:" in wrong_method.get_json()["error"]["message"]
    assert "POST" in wrong_method.get_json()["error"]["message"]
    assert "POST" in wrong_method.headers["Allow"]
    sent = client.post(
        "/api/email/send",
        json={**MESSAGE, "cc": "c@example.com", "bcc": "b@example.com"},
        headers=auth_header(),
    )
    view = client.get(f"/api/email/messages/{sent.get_json()['id']}", headers=auth_header())
    body = view.get_json()
    assert (body["subject"], body["to"], body["cc"], body["bcc_count"]) == (
        "Hello",
        ["paula@example.com"],
        ["c@example.com"],
        1,
    )


def test_the_dry_run_and_a_first_connection_use_the_right_words(
    fake_zoho: FakeZoho, make_settings: Callable[..., Settings], make_app: Callable[..., Any]
) -> None:
    _, dry = make_app(make_settings(transport="outbox", api_keys=()))
    reason = dry.get("/api/email/status").get_json()["reason"]
    for setting in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "MAILER_API_KEYS"):
        assert setting in reason
    _, fresh = make_app(make_settings(fake_zoho))
    reason = fresh.get("/api/email/status").get_json()["reason"]
    assert "reconnect" not in reason and "connects one at /api/email/auth" in reason


def test_the_readme_stands_on_its_own() -> None:
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    assert "../shared" not in readme
    assert (root / "docs" / "contract.md").exists()
    assert len(readme.splitlines()) <= 250, "the long explanations belong in docs/"


def test_every_link_of_the_documentation_resolves() -> None:
    """Relative links in README.md, CHANGELOG.md and docs/ name files that exist, and an anchor
    a heading of that file."""
    root = Path(__file__).parent.parent
    pages = [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to -."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
