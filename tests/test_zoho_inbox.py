"""Reading a mailbox back (mailer/zoho/inbox.py) against the fake's read endpoints, which answer
as loosely as zoho-read-api.md says Zoho does."""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest
import requests

from mailer.mailboxes.bounce_reports import read_bounce
from mailer.zoho.accounts import ZohoAccounts
from mailer.zoho.http import ZohoSession
from mailer.zoho.inbox import PAGE_SIZE, ZohoInbox
from mailer.zoho.mail import MailScopeMissing, MailTokenRejected
from tests.fake_zoho import FakeZoho
from tests.fake_zoho_read import (
    INBOX_ID,
    READ_SCOPES,
    RECEIPTS_ID,
    SEND_SCOPES,
    SENT_ID,
    deliver,
)

SAMPLES = Path(__file__).parent / "fixtures" / "bounces"
START_MS = 1_785_000_000_000


def mail(subject: str, sender: str = "MAILER-DAEMON@mx.example.net") -> bytes:
    return (
        f"From: Mail Delivery System <{sender}>\nTo: rebecca@zylker.com\n"
        f"Subject: {subject}\nMessage-ID: <{subject.replace(' ', '-')}@example.net>\n\nbody\n"
    ).encode()


def access_token(fake: FakeZoho, refresh_token: str) -> str:
    accounts = ZohoAccounts(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri=fake.redirect_uri,
        session=ZohoSession(5),
    )
    return accounts.refresh(fake.url, refresh_token).access_token


@pytest.fixture
def reader(fake_zoho: FakeZoho) -> tuple[ZohoInbox, str, str]:
    """An inbox client, a token with the read scopes, and that token's account id."""
    refresh_token = fake_zoho.add_account("reader@zylker.com", scope=f"{SEND_SCOPES} {READ_SCOPES}")
    account_id = fake_zoho.account_for(refresh_token).account_id
    return ZohoInbox(ZohoSession(5)), access_token(fake_zoho, refresh_token), account_id


def test_the_inbox_is_the_folder_at_slash_inbox_not_a_user_folder_typed_inbox(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader

    assert inbox.inbox_folder_id(fake_zoho.url, token, account_id) == INBOX_ID


def test_rows_since_a_mark_come_oldest_first_with_their_entities_decoded(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader
    account = next(a for a in fake_zoho.accounts.values() if a.account_id == account_id)
    deliver(account, mail("old"), START_MS)
    second = deliver(account, mail("Tom & Jerry"), START_MS + 2000)
    first = deliver(account, mail("new"), START_MS + 1000)
    deliver(account, mail("elsewhere"), START_MS + 3000, folder_id=RECEIPTS_ID)

    rows, calls = inbox.rows_since(fake_zoho.url, token, account_id, INBOX_ID, START_MS)

    assert [row.message_id for row in rows] == [first, second]
    assert rows[1].subject == "Tom & Jerry"
    assert rows[1].from_address == "MAILER-DAEMON@mx.example.net"
    assert rows[0].received_ms == START_MS + 1000
    assert calls == 1


def test_rows_page_until_one_reaches_back_to_the_mark(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader
    account = next(a for a in fake_zoho.accounts.values() if a.account_id == account_id)
    for n in range(2 * PAGE_SIZE + 50):
        deliver(account, mail(f"m{n}"), START_MS + n)

    everything, all_calls = inbox.rows_since(fake_zoho.url, token, account_id, INBOX_ID, 0)
    recent, recent_calls = inbox.rows_since(
        fake_zoho.url, token, account_id, INBOX_ID, START_MS + 2 * PAGE_SIZE + 39
    )
    capped, capped_calls = inbox.rows_since(
        fake_zoho.url, token, account_id, INBOX_ID, 0, max_pages=1
    )

    assert (len(everything), all_calls) == (2 * PAGE_SIZE + 50, 3)
    assert (len(recent), recent_calls) == (10, 1)
    # The newest page only: the next pass starts from its newest row.
    assert (len(capped), capped_calls) == (PAGE_SIZE, 1)
    assert capped[-1].received_ms == START_MS + 2 * PAGE_SIZE + 49


def test_the_original_comes_back_as_sent_and_reads_as_the_same_bounce(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader
    account = next(a for a in fake_zoho.accounts.values() if a.account_id == account_id)
    raw = (SAMPLES / "lhost-zoho-02.eml").read_bytes()
    message_id = deliver(account, raw, START_MS)

    original = inbox.original(fake_zoho.url, token, account_id, message_id)

    assert b"\r\n" in original
    parsed = message_from_bytes(original)
    assert parsed["Subject"] == "Undelivered Mail Returned to Sender"
    assert read_bounce(original) == read_bounce(raw)


def test_a_token_without_the_read_scope_is_a_missing_scope_not_a_stale_token(
    fake_zoho: FakeZoho,
) -> None:
    """The fake answers 401 INVALID_OAUTHSCOPE, the worst plausible: a client that took every
    401 for a stale token would renew it again and again."""
    refresh_token = fake_zoho.add_account("sender@zylker.com")
    account_id = fake_zoho.account_for(refresh_token).account_id
    token = access_token(fake_zoho, refresh_token)
    inbox = ZohoInbox(ZohoSession(5))

    with pytest.raises(MailScopeMissing) as raised:
        inbox.inbox_folder_id(fake_zoho.url, token, account_id)
    with pytest.raises(MailScopeMissing):
        inbox.rows_since(fake_zoho.url, token, account_id, INBOX_ID, 0)

    assert not isinstance(raised.value, MailTokenRejected)
    assert raised.value.status == 401


def test_an_expired_token_is_still_a_stale_token(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader
    fake_zoho.expire_access_tokens()

    with pytest.raises(MailTokenRejected):
        inbox.inbox_folder_id(fake_zoho.url, token, account_id)


def test_the_consents_scope_is_what_the_token_reply_says(fake_zoho: FakeZoho) -> None:
    refresh_token = fake_zoho.issue_refresh_token(f"{SEND_SCOPES} {READ_SCOPES}")

    token = access_token(fake_zoho, refresh_token)

    assert token in fake_zoho.access_tokens
    assert fake_zoho.scopes[refresh_token].split() == [*SEND_SCOPES.split(), *READ_SCOPES.split()]


def test_what_was_sent_is_in_the_sent_folder_under_the_message_id_zoho_answered(
    fake_zoho: FakeZoho, reader: tuple[ZohoInbox, str, str]
) -> None:
    inbox, token, account_id = reader
    account = next(a for a in fake_zoho.accounts.values() if a.account_id == account_id)
    body = {"fromAddress": account.primary, "toAddress": "paula@example.com", "content": "hi"}
    answer = requests.post(
        f"{fake_zoho.url}/api/accounts/{account_id}/messages",
        json=body,
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=5,
    ).json()

    rows, _ = inbox.rows_since(fake_zoho.url, token, account_id, SENT_ID, 0)
    original = inbox.original(fake_zoho.url, token, account_id, rows[-1].message_id)

    assert message_from_bytes(original)["Message-ID"] == answer["data"]["mailId"]
