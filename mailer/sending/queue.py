"""Messages after they were accepted: list a mailbox's, cancel one that waits, requeue one.

Each acts on one mailbox's messages; another mailbox's id is as good as unknown (404).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from mailer.runtime import metrics
from mailer.runtime.clock import Clock
from mailer.runtime.errors import Conflict, InvalidRequest, NotFound
from mailer.sending.options import TAG
from mailer.storage.ports import MessageQueue
from mailer.storage.records import StoredMessage

log = logging.getLogger(__name__)

STATUSES = ("scheduled", "queued", "sending", "sent", "failed", "canceled", "bounced")
WAITING = ("scheduled", "queued", "sending")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A position in the listing: the created_at and id of the last message of the page before.
CURSOR = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,17})?:[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Page:
    messages: list[StoredMessage]
    next_cursor: str | None


def cursor_at(created_at: float, message_id: str) -> str:
    """The cursor that goes on after the message accepted at ``created_at`` with this id."""
    return f"{created_at!r}:{message_id}"


def position(cursor: str) -> tuple[float, str]:
    """Any cursor of CURSOR's form is a position in the listing's order, whoever wrote it."""
    if not CURSOR.fullmatch(cursor):
        raise InvalidRequest(
            "cursor is not one this API gave out; pass next_cursor as it came",
            field="cursor",
            code="invalid_cursor",
        )
    created_at, message_id = cursor.split(":", 1)
    return float(created_at), message_id


def message_not_found(message_id: str) -> NotFound:
    return NotFound(
        f"no message {message_id[:80]!r} (unknown, or purged after retention)",
        code="message_not_found",
    )


class QueueAdmin:
    def __init__(self, *, messages: MessageQueue, clock: Clock) -> None:
        self._messages = messages
        self._clock = clock

    def page(
        self,
        mailbox: str,
        *,
        status: str | None = None,
        limit: int | str | None = None,
        cursor: str | None = None,
        statuses: tuple[str, ...] = (),
        tag: str | None = None,
    ) -> Page:
        """A mailbox's messages, newest first, ``limit`` at a time (with ``tag``, those only)."""
        if tag is not None and not TAG.match(tag):
            raise InvalidRequest(
                "tag is 1 to 64 of A-Z, a-z, 0-9, _ and -", field="tag", code="invalid_tag"
            )
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"status must be one of {', '.join(STATUSES)}",
                field="status",
                code="invalid_status",
            )
        size = self._limit(limit)
        wanted = (status,) if status is not None else statuses
        before = position(cursor) if cursor is not None else None
        found = self._messages.page(
            mailbox, statuses=wanted, limit=size + 1, before=before, tag=tag
        )
        more = len(found) > size
        found = found[:size]
        return Page(
            found, cursor_at(found[-1].created_at, found[-1].id) if more and found else None
        )

    def cancel(self, mailbox: str, message_id: str) -> StoredMessage:
        canceled, found = self._messages.cancel(message_id, mailbox, now=self._clock.now())
        stored = _require(
            found, message_id, "canceled", "a queued or scheduled message can be canceled"
        )
        if canceled:
            metrics.message_reached(mailbox, "canceled")
            log.info("mailbox %s: canceled %s", mailbox, message_id)
        return stored

    def requeue(self, mailbox: str, message_id: str) -> StoredMessage:
        found = self._messages.requeue(message_id, mailbox, now=self._clock.now())
        stored = _require(found, message_id, "queued", "a failed or queued message can be retried")
        log.info("mailbox %s: %s requeued by an operator", mailbox, message_id)
        return stored

    @staticmethod
    def _limit(limit: int | str | None) -> int:
        if limit is None:
            return DEFAULT_LIMIT
        try:
            size = int(limit)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_LIMIT:
            raise InvalidRequest(
                f"limit must be a whole number from 1 to {MAX_LIMIT}",
                field="limit",
                code="invalid_limit",
            )
        return size


def _require(
    stored: StoredMessage | None, message_id: str, status: str, only: str
) -> StoredMessage:
    """The message an operation changed to ``status``; 404 or 409 when it did not."""
    if stored is None:
        raise message_not_found(message_id)
    if stored.status != status:
        raise Conflict(
            f"message {message_id} is {stored.status}: only {only}",
            code="not_cancelable" if status == "canceled" else "not_retryable",
        )
    return stored
