"""Back-pressure: a client caught in a loop, or a leaked key, cannot bury a mailbox.

The state store checks the limits as it stores (``Admissions.admit``: one count for every worker
and host); this module says what a refusal means to the caller, counts it, and tells the admin
once a minute per mailbox and reason, not once per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading

from mailer.runtime import metrics
from mailer.runtime.clock import Clock
from mailer.runtime.errors import (
    GatewayError,
    QueueFull,
    RateLimited,
    RecipientSuppressed,
    Refused,
    RepeatedMessage,
)
from mailer.sending.request import OutgoingMessage
from mailer.storage.outbox_ports import Admissions
from mailer.storage.ports import SuppressionList

log = logging.getLogger(__name__)

# A refusal is logged (and kept for the mailbox's view) at most this often per reason.
REPORT_SECONDS = 60.0

_REFUSALS: dict[str, tuple[type[Refused], str]] = {
    "rate_limited": (
        RateLimited,
        "this mailbox accepts no more messages now (MAILER_ACCEPT_LIMITS); try again later",
    ),
    "queue_full": (
        QueueFull,
        "this mailbox holds as many waiting messages as it may (MAILER_MAX_QUEUED); try again "
        "once some went out",
    ),
    "repeated_message": (
        RepeatedMessage,
        "this very message (sender, recipients, subject and body) was accepted as often as "
        "MAILER_REPEAT_LIMIT allows; a client retrying in a loop?",
    ),
}


def message_digest(message: OutgoingMessage) -> str:
    """What makes two messages the same message: sender, recipients, subject and body."""
    what = [
        message.sender,
        sorted(message.to),
        sorted(message.cc),
        sorted(message.bcc),
        message.subject,
        message.html,
        message.text,
    ]
    return hashlib.sha256(json.dumps(what, ensure_ascii=False).encode()).hexdigest()


class RefusalReports:
    """Refusals counted for metrics at once, and reported once a minute per mailbox and reason
    by this process (a log line, and a row for the mailbox's view)."""

    def __init__(self, admissions: Admissions, suppressions: SuppressionList, clock: Clock) -> None:
        self._admissions = admissions
        self._suppressions = suppressions
        self._clock = clock
        self._guard = threading.Lock()
        # (mailbox, reason) -> (refusals not reported yet, when last reported)
        self._pending: dict[tuple[str, str], tuple[int, float]] = {}

    def refused(
        self,
        mailbox: str,
        reason: str,
        retry_after_seconds: float,
        recipients: tuple[str, ...] = (),
    ) -> GatewayError:
        """Count a refusal; the error that tells the caller."""
        if reason == "recipient_suppressed":
            named = self._suppressions.suppressed(mailbox, recipients)
            return RecipientSuppressed(
                "this mailbox sends nothing to " + ", ".join(named) + " (its suppression list: "
                "a hard bounce, or an admin); remove them, or ask the admin",
                field="to",
            )
        metrics.accept_refused(mailbox, reason)
        now = self._clock.now()
        with self._guard:
            count, reported_at = self._pending.get((mailbox, reason), (0, float("-inf")))
            count += 1
            due = now - reported_at >= REPORT_SECONDS
            self._pending[(mailbox, reason)] = (0, now) if due else (count, reported_at)
        if due:
            log.warning(
                "mailbox %s refused %d sends (%s) since the last report; the client is asked to "
                "wait %d s",
                mailbox,
                count,
                reason,
                retry_after_seconds,
            )
            self._admissions.note_refusal(mailbox, reason, now=now, count=count)
        kind, message = _REFUSALS[reason]
        return kind(message, retry_after_seconds=max(1.0, retry_after_seconds))
