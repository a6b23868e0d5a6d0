"""The fake Zoho's read endpoints (../shared/zoho-read-api.md): folders, a folder's list, a
message's original MIME, as loose as Zoho answers them.

Every scalar a string (ids of 19 digits), ``Not Provided`` for no address, addresses and
subjects HTML-encoded, keys missing from some rows, a user folder that also says
``folderType: Inbox``, ``originalmessage``'s ``messageId`` a number. A token without the read
scope gets 401 ``INVALID_OAUTHSCOPE``: the worst plausible answer, since 401 is also what an
expired token gets.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

if TYPE_CHECKING:
    from tests.fake_zoho import FakeAccount, FakeZoho

SEND_SCOPES = "ZohoMail.messages.CREATE ZohoMail.accounts.READ"
READ_SCOPES = "ZohoMail.messages.READ ZohoMail.folders.READ"
INBOX_ID = "2560636000000008014"
SENT_ID = "2560636000000008020"
RECEIPTS_ID = "2560636000000008090"  # a user folder: Zoho calls it "Inbox" too
_message_ids = itertools.count(1785032043525100001)


@dataclass
class FakeMail:
    """One message in a fake mailbox (``FakeZoho.gone_messages``: listed, but deleted before
    its original is asked for)."""

    folder_id: str
    message_id: str
    received_ms: int
    raw: bytes


def folders(account_id: str) -> list[dict[str, Any]]:
    uri = f"https://mail.zoho.com/api/accounts/{account_id}/folders/"
    return [
        {
            "path": "/Receipts",
            "isArchived": 0,
            "folderName": "Receipts",
            "imapAccess": True,
            "folderType": "Inbox",
            "folderId": RECEIPTS_ID,
            "URI": uri + RECEIPTS_ID,
        },
        {
            "path": "/Inbox",
            "isArchived": 1,
            "folderName": "Inbox",
            "imapAccess": True,
            "folderType": "Inbox",
            "folderId": INBOX_ID,
            "URI": uri + INBOX_ID,
        },
        {
            "path": "/Sent",
            "previousFolderId": INBOX_ID,
            "folderName": "Sent",
            "folderType": "Sent",
            "folderId": SENT_ID,
            "URI": uri + SENT_ID,
        },
    ]


def deliver(account: FakeAccount, raw: bytes, received_ms: int, folder_id: str = INBOX_ID) -> str:
    """Put ``raw`` in one of ``account``'s folders; returns Zoho's id for it."""
    message_id = str(next(_message_ids))
    account.mail.append(FakeMail(folder_id, message_id, received_ms, raw))
    return message_id


def sent_copy(body: dict[str, Any], mail_id: str) -> bytes:
    """What Zoho keeps in the Sent folder for a send: its headers and content as MIME."""
    return (
        f"From: {body['fromAddress']}\r\nTo: {body['toAddress']}\r\n"
        f"Subject: {body.get('subject', '')}\r\nMessage-ID: {mail_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{body.get('content', '')}\r\n"
    ).encode("utf-8", "surrogateescape")


def row(mail: FakeMail) -> dict[str, Any]:
    """A list row as Zoho shapes it: strings, entities, ``Not Provided``, keys that vary."""
    parsed = message_from_bytes(mail.raw)
    sender = getaddresses([str(parsed.get("from", ""))])
    name, address = sender[0] if sender else ("", "")
    to = ", ".join(f"&lt;{a}&gt;" for _, a in getaddresses(parsed.get_all("to", [])) if a)
    cc = ", ".join(f"&lt;{a}&gt;" for _, a in getaddresses(parsed.get_all("cc", [])) if a)
    entry: dict[str, Any] = {
        "summary": html.escape(mail.raw.split(b"\n\n", 1)[-1][:100].decode("utf-8", "replace")),
        "sentDateInGMT": str(mail.received_ms - 3_600_000),  # off by the account's offset
        "receivedTime": str(mail.received_ms),
        "calendarType": 0,
        "subject": html.escape(str(parsed.get("subject", ""))),
        "messageId": mail.message_id,
        "flagid": "flag_not_set",
        "status2": "0",
        "priority": "3",
        "hasInline": "false",
        "ccAddress": cc or "Not Provided",
        "folderId": mail.folder_id,
        "hasAttachment": "0",
        "size": str(len(mail.raw)),
        "sender": name or address,
        "fromAddress": html.escape(address),
        "status": "0",
    }
    if to:  # missing from some rows
        entry["toAddress"] = to
    return entry


def add_read_routes(
    app: Flask,
    fake: FakeZoho,
    *,
    envelope: Callable[..., Response],
    mail_error: Callable[..., Response],
    denied: Callable[[str], Response | None],
    account: Callable[[], FakeAccount],
    record: Callable[[], object],
) -> None:
    """``denied(account_id)`` answers for a bad token, a wrong account or a failure switch."""

    def without_scope(*wanted: str) -> Response | None:
        granted = set(request.environ.get("fake.scope", "").split())
        if granted & set(wanted):
            return None
        return fake_scope_error(mail_error)

    @app.get("/api/accounts/<account_id>/folders")
    def list_folders(account_id: str) -> Response:
        record()
        refused = denied(account_id) or without_scope(
            "ZohoMail.folders.READ", "ZohoMail.folders.ALL"
        )
        return refused or envelope(200, folders(account_id))

    @app.get("/api/accounts/<account_id>/messages/view")
    def list_messages(account_id: str) -> Response:
        record()
        refused = denied(account_id) or without_scope(
            "ZohoMail.messages.READ", "ZohoMail.messages.ALL"
        )
        if refused:
            return refused
        args = request.args
        start, limit = args.get("start", "1"), args.get("limit", "10")
        if not start.isdigit() or not limit.isdigit() or int(start) < 1:
            return mail_error(400, "PATTERN_NOT_MATCHED")
        if not 1 <= int(limit) <= 200:
            return mail_error(400, "PATTERN_NOT_MATCHED")
        folder = args.get("folderId")
        with fake.lock:
            mail = [m for m in account().mail if folder is None or m.folder_id == folder]
        ascending = args.get("sortorder") == "true"
        mail.sort(key=lambda m: (m.received_ms, m.message_id), reverse=not ascending)
        page = mail[int(start) - 1 : int(start) - 1 + int(limit)]
        return envelope(200, [row(m) for m in page])

    @app.get("/api/accounts/<account_id>/messages/<message_id>/originalmessage")
    def original_message(account_id: str, message_id: str) -> Response:
        record()
        refused = denied(account_id) or without_scope(
            "ZohoMail.messages.READ", "ZohoMail.messages.ALL"
        )
        if refused:
            return refused
        with fake.lock:
            found = [m for m in account().mail if m.message_id == message_id]
        if not found or message_id in fake.gone_messages:
            return mail_error(404, "INVALID_MESSAGEID", "Invalid Message Id")
        content = found[0].raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return envelope(
            200,
            {"messageId": int(message_id), "content": content.decode("utf-8", "surrogateescape")},
        )


def fake_scope_error(mail_error: Callable[..., Response]) -> Response:
    return mail_error(401, "INVALID_OAUTHSCOPE", "Invalid OAuth Scope")
