"""Bounces read back (MAILER_BOUNCES=on), in process on both engines, against the fake's Inbox:
a bounce tied to its message makes it bounced, keeps the bounce, suppresses a hard-bounced
address and stores message.bounced; a soft one suppresses nothing; a bounce of no message of
ours, a reply and an ordinary mail change nothing; a bounce counts once however often it is read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.config import Settings
from mailer.runtime.metrics import MESSAGES
from tests.bounce_mail import exim_without_copy, ordinary, reply, report, zoho_notice
from tests.conftest import MESSAGE, FakeClock, admin_header, auth_header, send
from tests.fake_zoho import FakeZoho
from tests.fake_zoho_read import READ_SCOPES, SEND_SCOPES

POLL = 60.0
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
Reader = tuple[Flask, FlaskClient, FakeZoho, str]


@pytest.fixture
def reader(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    state_location: str,
) -> Reader:
    """A gateway with bounces on, whose mailbox consented to reading."""
    refresh = fake_zoho.issue_refresh_token(f"{SEND_SCOPES} {READ_SCOPES}")
    settings = make_settings(
        fake_zoho,
        zoho_refresh_token=refresh,
        db=state_location,
        bounces=True,
        bounce_poll_seconds=POLL,
        # Events are stored for this receiver (nothing here delivers them: test_webhooks does).
        webhook_url="http://127.0.0.1:9/hooks/mail",
        webhook_secret=WEBHOOK_SECRET,
        webhook_allow_private=True,
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    return app, client, fake_zoho, refresh


def poll(app: Flask, clock: FakeClock) -> None:
    """Let a poll interval pass, then run the worker's bounce job once."""
    clock.advance(POLL)
    app.extensions["mailer"].jobs.read_bounces()


def sent(client: FlaskClient, to: str = "paula@example.com") -> dict[str, Any]:
    answer = send(client, {**MESSAGE, "to": to})
    assert answer.status_code == 200, answer.json
    body: dict[str, Any] = answer.json
    return body


def view(client: FlaskClient, message_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(
        f"/api/email/messages/{message_id}", headers=auth_header()
    ).json
    return body


def events(app: Flask) -> list[dict[str, Any]]:
    with app.extensions["mailer"].storage.database.read() as tx:
        rows = tx.rows("SELECT type, body FROM webhook_events ORDER BY created_at")
    return [{"type": r["type"], **json.loads(r["body"])} for r in rows]


def suppressions(client: FlaskClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get(
        "/api/email/mailboxes/default/suppressions", headers=admin_header()
    ).json["suppressions"]
    return listed


def read_calls(fake: FakeZoho) -> list[str]:
    return [c.path.rsplit("/", 1)[-1] for c in fake.mail_calls if c.method == "GET"]


def bounced_total() -> float:
    return MESSAGES.labels("default", "bounced")._value.get()


def test_a_hard_bounce_makes_its_message_bounced_and_suppresses_the_address(
    reader: Reader, clock: FakeClock
) -> None:
    app, client, fake, refresh = reader
    message = sent(client, "gone@example.com")
    before = bounced_total()
    fake.deliver(refresh, report("gone@example.com", message["mail_id"]))

    poll(app, clock)

    shown = view(client, message["id"])
    assert shown["status"] == "bounced"
    (bounce,) = shown["bounces"]
    assert bounce["recipient"] == "gone@example.com"
    assert (bounce["type"], bounce["status"]) == ("hard", "5.1.1")
    assert "Recipient address rejected" in bounce["diagnostic"]
    (suppressed,) = suppressions(client)
    assert suppressed["address"] == "gone@example.com"
    assert (suppressed["reason"], suppressed["message_id"]) == ("hard_bounce", message["id"])
    (event,) = [e for e in events(app) if e["type"] == "message.bounced"]
    assert event["data"]["id"] == message["id"] and event["data"]["status"] == "bounced"
    assert event["data"]["bounces"][0]["recipient"] == "gone@example.com"
    assert bounced_total() == before + 1
    refused = send(client, {**MESSAGE, "to": "gone@example.com"})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "recipient_suppressed"
    removed = client.delete(
        "/api/email/mailboxes/default/suppressions/gone@example.com", headers=admin_header()
    )
    assert removed.status_code == 204
    assert send(client, {**MESSAGE, "to": "gone@example.com"}).status_code == 200


def test_zohos_own_notice_ties_by_message_id_and_names_only_the_recipient(
    reader: Reader, clock: FakeClock
) -> None:
    app, client, fake, refresh = reader
    message = sent(client, "kijitora@example.co.jp")
    fake.deliver(refresh, zoho_notice("kijitora@example.co.jp", message["mail_id"]))

    poll(app, clock)

    shown = view(client, message["id"])
    assert shown["status"] == "bounced"
    assert [(b["recipient"], b["status"]) for b in shown["bounces"]] == [
        ("kijitora@example.co.jp", "5.1.1")
    ]
    assert [s["address"] for s in suppressions(client)] == ["kijitora@example.co.jp"]


def test_a_bounce_without_a_message_id_ties_by_recipient_and_time(
    reader: Reader, clock: FakeClock
) -> None:
    app, client, fake, refresh = reader
    sent(client, "someone@example.org")
    message = sent(client, "gone@example.org")
    fake.deliver(refresh, exim_without_copy("gone@example.org"))

    poll(app, clock)

    assert view(client, message["id"])["status"] == "bounced"


def test_a_soft_bounce_is_kept_and_suppresses_nothing(reader: Reader, clock: FakeClock) -> None:
    app, client, fake, refresh = reader
    message = sent(client, "busy@example.com")
    fake.deliver(refresh, report("busy@example.com", message["mail_id"], status="4.2.2"))

    poll(app, clock)

    shown = view(client, message["id"])
    assert shown["status"] == "sent"
    assert [(b["type"], b["status"]) for b in shown["bounces"]] == [("soft", "4.2.2")]
    assert suppressions(client) == []
    assert send(client, {**MESSAGE, "to": "busy@example.com"}).status_code == 200


def test_what_is_no_bounce_of_ours_changes_nothing_and_mail_is_not_fetched(
    reader: Reader, clock: FakeClock
) -> None:
    app, client, fake, refresh = reader
    message = sent(client)
    fake.deliver(refresh, report("stranger@example.com", "<not-ours@example.net>"))
    fake.deliver(refresh, reply(message["mail_id"]))
    fake.deliver(refresh, ordinary())

    poll(app, clock)

    assert view(client, message["id"])["status"] == "sent"
    assert view(client, message["id"])["bounces"] == []
    assert suppressions(client) == []
    assert [e for e in events(app) if e["type"] == "message.bounced"] == []
    # Only the one that looks like a bounce was fetched whole.
    assert read_calls(fake).count("originalmessage") == 1


def test_a_bounce_read_again_counts_once(reader: Reader, clock: FakeClock) -> None:
    app, client, fake, refresh = reader
    message = sent(client, "gone@example.com")
    fake.deliver(refresh, report("gone@example.com", message["mail_id"]))
    poll(app, clock)
    storage = app.extensions["mailer"].storage
    with storage.database.write() as tx:  # as if the mark were lost: read it all again
        tx.execute("UPDATE bounce_marks SET mark_ms = 0")

    poll(app, clock)

    assert read_calls(fake).count("originalmessage") == 2
    assert len(view(client, message["id"])["bounces"]) == 1
    assert len([e for e in events(app) if e["type"] == "message.bounced"]) == 1


def test_with_nothing_to_read_each_poll_is_one_call(reader: Reader, clock: FakeClock) -> None:
    app, _, fake, _ = reader
    for _ in range(5):
        poll(app, clock)

    # The account and the Inbox are looked up once; then one list call a poll.
    assert read_calls(fake) == ["accounts", "folders"] + ["view"] * 5


def test_a_mailbox_is_read_once_per_interval_however_many_workers_look(
    reader: Reader, clock: FakeClock, make_app: Callable[..., Any]
) -> None:
    app, _, fake, _ = reader
    other, _ = make_app(app.extensions["mailer"].settings)
    poll(app, clock)
    other.extensions["mailer"].jobs.read_bounces()
    app.extensions["mailer"].jobs.read_bounces()

    assert read_calls(fake).count("view") == 1


def test_a_mailbox_without_the_read_consent_needs_reconnecting_and_is_never_read(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
    clock: FakeClock,
) -> None:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), bounces=True
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()

    poll(app, clock)

    shown = client.get("/api/email/mailboxes/default", headers=admin_header()).json
    assert shown["bounces"] == "needs_reconnect"
    assert read_calls(fake_zoho) == []


def test_with_bounces_off_the_view_says_off_and_consent_asks_only_to_send(
    connected: tuple[Flask, FlaskClient, FakeZoho],
) -> None:
    _, client, _ = connected
    shown = client.get("/api/email/mailboxes/default", headers=admin_header()).json
    assert shown["bounces"] == "off"
    started = client.get("/api/email/auth", headers=admin_header())
    assert "ZohoMail.messages.READ" not in started.headers["Location"]


def test_with_bounces_on_the_consent_asks_to_read_messages_and_folders(reader: Reader) -> None:
    _, client, _, _ = reader
    started = client.get("/api/email/auth", headers=admin_header())
    location = started.headers["Location"]
    assert "ZohoMail.messages.READ" in location and "ZohoMail.folders.READ" in location
    shown = client.get("/api/email/mailboxes/default", headers=admin_header()).json
    assert shown["bounces"] == "on"


def test_the_page_shows_the_suppressions_and_a_mailbox_that_must_reconnect_to_be_read(
    fake_zoho: FakeZoho,
    make_settings: Callable[..., Settings],
    make_app: Callable[..., Any],
) -> None:
    settings = make_settings(
        fake_zoho, zoho_refresh_token=fake_zoho.issue_refresh_token(), bounces=True
    )
    app, client = make_app(settings)
    app.extensions["mailer"].jobs.startup()
    client.post(
        "/api/email/mailboxes/default/suppressions",
        json={"address": "gone@example.com"},
        headers=admin_header(),
    )

    overview = client.get("/", headers=admin_header()).get_data(as_text=True)
    page = client.get("/mailboxes/default", headers=admin_header()).get_data(as_text=True)

    assert "Bounces not read: reconnect to allow reading" in overview
    assert "not read: reconnect to allow reading" in page
    assert "gone@example.com" in page and "added by an admin" in page


def test_a_message_gone_before_it_is_fetched_is_passed_over_and_the_next_is_read(
    reader: Reader, clock: FakeClock
) -> None:
    app, client, fake, refresh = reader
    message = sent(client, "gone@example.com")
    fake.gone_messages.add(fake.deliver(refresh, report("other@example.com", None)))
    clock.advance(1)
    fake.deliver(refresh, report("gone@example.com", message["mail_id"]))

    poll(app, clock)
    poll(app, clock)

    assert view(client, message["id"])["status"] == "bounced"
    assert read_calls(fake).count("originalmessage") == 2  # each once: the mark moved past both
