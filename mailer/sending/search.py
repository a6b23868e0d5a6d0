"""Finding messages across mailboxes for the console: the form's fields, checked, as a query
of the state store (recipient, subject, status, tag, mailbox, time)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from mailer.runtime.errors import InvalidRequest
from mailer.sending.options import TAG
from mailer.sending.queue import STATUSES, cursor_at, position
from mailer.storage.console_ports import Found, History, MessageQuery
from mailer.storage.records import MAILBOX_NAME

FIELDS = ("recipient", "subject", "status", "tag", "mailbox", "since", "until", "tz", "before")
PAGE_SIZE = 50
MAX_TEXT = 200


def parse_query(form: Mapping[str, str]) -> MessageQuery:
    """The search a form asks for; 400 naming the field that is wrong. Times are the browser's
    ``YYYY-MM-DDTHH:MM`` with ``tz`` its offset from UTC in minutes (as JavaScript's
    getTimezoneOffset gives it), or RFC 3339 with an offset."""
    given = {k: form[k].strip() for k in FIELDS if form.get(k, "").strip()}
    for name in ("recipient", "subject"):
        if len(given.get(name, "")) > MAX_TEXT:
            raise InvalidRequest(
                f"{name} is at most {MAX_TEXT} characters", field=name, code="invalid_search"
            )
    if "status" in given and given["status"] not in STATUSES:
        raise InvalidRequest(
            f"status must be one of {', '.join(STATUSES)}", field="status", code="invalid_status"
        )
    if "tag" in given and not TAG.match(given["tag"]):
        raise InvalidRequest(
            "tag is 1 to 64 of A-Z, a-z, 0-9, _ and -", field="tag", code="invalid_tag"
        )
    if "mailbox" in given and not MAILBOX_NAME.match(given["mailbox"]):
        raise InvalidRequest("no mailbox has that name", field="mailbox", code="invalid_mailbox")
    offset = _offset(given.get("tz"))
    return MessageQuery(
        mailbox=given.get("mailbox"),
        status=given.get("status"),
        tag=given.get("tag"),
        recipient=given.get("recipient"),
        subject=given.get("subject"),
        since=_time(given.get("since"), offset, "since"),
        until=_time(given.get("until"), offset, "until"),
        before=position(given["before"]) if "before" in given else None,
        limit=PAGE_SIZE,
    )


def search(history: History, form: Mapping[str, str]) -> tuple[Found, str | None]:
    """The matches, and the cursor (``before``) that goes on from where the search stopped."""
    found = history.search(parse_query(form))
    more = found.more_before
    return found, cursor_at(*more) if more is not None else None


def _offset(value: str | None) -> timedelta:
    if value is None:
        return timedelta(0)
    try:
        minutes = int(value)
    except ValueError:
        minutes = 10_000
    if abs(minutes) > 18 * 60:
        raise InvalidRequest("tz is minutes from UTC", field="tz", code="invalid_search")
    return timedelta(minutes=-minutes)


def _time(value: str | None, offset: timedelta, name: str) -> float | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} is a date and time such as 2026-12-05T14:30", field=name, code="invalid_search"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone(offset))
    return when.timestamp()
