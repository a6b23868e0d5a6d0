"""Reading a mailbox back through Zoho Mail's API: the Inbox's id, what arrived since a moment,
and one message's original MIME (``../shared/zoho-read-api.md`` §2, §3, §5).

Zoho's rows are loose: every scalar a string, ids of 19 digits, keys missing row to row,
addresses HTML-encoded, ``Not Provided`` for none. A row this client cannot read is skipped,
never guessed; a reply that is not Zoho's envelope raises the Mail API's ``MailError``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from mailer.zoho.account import as_id
from mailer.zoho.http import ZohoSession
from mailer.zoho.mail import MailUnavailable, call_mail_api

PAGE_SIZE = 200  # Zoho's most per page
_NOT_PROVIDED = "Not Provided"


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One message in a folder's list: enough to choose which to fetch."""

    message_id: str
    received_ms: int
    from_address: str
    subject: str


class ZohoInbox:
    """Client of Zoho Mail's read endpoints; like ``ZohoMail``, each call names its base URL and
    token, since both are the mailbox's."""

    def __init__(self, session: ZohoSession) -> None:
        self._session = session

    def inbox_folder_id(self, base_url: str, access_token: str, account_id: str) -> str:
        """The Inbox's id. Zoho marks every user folder ``folderType: Inbox`` too, so the
        system Inbox is the one at path ``/Inbox``."""
        body = call_mail_api(
            self._session, "GET", f"{base_url}/api/accounts/{account_id}/folders", access_token
        )
        folders = body.get("data")
        for folder in folders if isinstance(folders, list) else []:
            if not isinstance(folder, dict) or folder.get("folderType") != "Inbox":
                continue
            if str(folder.get("path", "")).lower() == "/inbox":
                folder_id = as_id(folder.get("folderId"))
                if folder_id:
                    return folder_id
        raise MailUnavailable("Zoho's folder list has no Inbox")

    def rows_since(
        self,
        base_url: str,
        access_token: str,
        account_id: str,
        folder_id: str,
        since_ms: int,
        *,
        max_pages: int = 5,
    ) -> tuple[list[InboxRow], int]:
        """The folder's messages received after ``since_ms``, oldest first, and how many calls
        that took. Newest first from Zoho, page by page, until a page reaches back to
        ``since_ms``, comes back short, or ``max_pages`` were read (the rest waits for the next
        pass, which starts from the newest of these)."""
        found: list[InboxRow] = []
        calls = 0
        for page in range(max_pages):
            body = call_mail_api(
                self._session,
                "GET",
                f"{base_url}/api/accounts/{account_id}/messages/view",
                access_token,
                params={
                    "folderId": folder_id,
                    "start": str(1 + page * PAGE_SIZE),
                    "limit": str(PAGE_SIZE),
                    "sortorder": "false",
                },
            )
            calls += 1
            data = body.get("data")
            rows = data if isinstance(data, list) else []
            read = [row for row in (_row(entry) for entry in rows) if row is not None]
            newer = [row for row in read if row.received_ms > since_ms]
            found.extend(newer)
            if len(rows) < PAGE_SIZE or len(newer) < len(read):
                break
        unique = {row.message_id: row for row in found}
        return sorted(unique.values(), key=lambda row: (row.received_ms, row.message_id)), calls

    def original(self, base_url: str, access_token: str, account_id: str, message_id: str) -> bytes:
        """One message's RFC 822 source, as Zoho keeps it (``data.content``, one string)."""
        body = call_mail_api(
            self._session,
            "GET",
            f"{base_url}/api/accounts/{account_id}/messages/{message_id}/originalmessage",
            access_token,
        )
        data = body.get("data")
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str):
            raise MailUnavailable("Zoho's original message has no content")
        return content.encode("utf-8", "surrogateescape")


def _row(entry: Any) -> InboxRow | None:
    if not isinstance(entry, dict):
        return None
    message_id = as_id(entry.get("messageId"))
    received = as_id(entry.get("receivedTime"))
    if not message_id or not received or not received.isdigit():
        return None
    return InboxRow(
        message_id,
        int(received),
        _plain(entry.get("fromAddress")),
        _plain(entry.get("subject")),
    )


def _plain(value: object) -> str:
    text = html.unescape(value) if isinstance(value, str) else ""
    return "" if text == _NOT_PROVIDED else text
