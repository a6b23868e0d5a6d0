"""A send request from JSON to an accepted message: validate, honour the Idempotency-Key, log.

The answer's JSON shape is the API's business: it hands in the two renderers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailer.composition.parts import MailboxParts
from mailer.runtime.clock import Clock
from mailer.runtime.errors import Conflict, InvalidRequest
from mailer.runtime.logs import fields
from mailer.sending.options import parse_send_options
from mailer.sending.outbox import Outbox
from mailer.sending.request import parse_send_request
from mailer.sending.results import Accepted
from mailer.storage.ports import IdempotencyStore
from mailer.storage.records import StoredMessage

log = logging.getLogger(__name__)

# The same key with the same body within this long returns the first answer.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# A request in flight holds its key this long at most; a dead worker's claim then lapses.
IDEMPOTENCY_LEASE_SECONDS = 300
MAX_IDEMPOTENCY_KEY_CHARS = 255
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def body_fingerprint(body: object) -> str:
    """Equal JSON bodies (whatever their key order or spacing) have equal fingerprints."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not _PRINTABLE.match(key):
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return key


@dataclass(frozen=True)
class Renderers:
    """How the API answers a new message, and a message an earlier request accepted."""

    accepted: Callable[[Accepted], Answer]
    replayed: Callable[[StoredMessage], Answer]


class SendService:
    """Turns a decoded send request into an answer; the view only reads and writes HTTP."""

    def __init__(
        self,
        *,
        parts: Callable[[str], MailboxParts],
        idempotency: IdempotencyStore,
        clock: Clock,
        render: Renderers,
        env_mailbox: str = "default",
    ) -> None:
        self._parts = parts
        self._idempotency = idempotency
        self._clock = clock
        self._render = render
        self._env_mailbox = env_mailbox

    def send(
        self,
        body: object,
        *,
        idempotency_key: str | None,
        request_id: str,
        mailbox: str | None = None,
        deliver_now: bool = True,
        source: str = "http",
    ) -> Answer:
        """Accept ``body`` from ``mailbox`` (the environment's by default); with
        ``deliver_now=False`` only store it, for a running gateway to deliver."""
        mailbox = mailbox or self._env_mailbox
        parts = self._parts(mailbox)
        key = check_idempotency_key(idempotency_key)
        message = parse_send_request(body)
        assert isinstance(body, dict)  # parse_send_request refuses anything else
        options = parse_send_options(body, now=self._clock.now())
        # Callers learn at once; nothing is accepted that cannot go out.
        parts.transport.admit(message)
        if key is not None and mailbox != self._env_mailbox:
            # Each mailbox's keys are its own; a key holds no space, so no two names meet.
            key = f"{mailbox} {key}"
        if key is not None:
            replay = self._claim(parts.outbox, key, body_fingerprint(body))
            if replay is not None:
                log.info(
                    "send request_id=%s outcome=replayed status=%d",
                    request_id,
                    replay.status,
                    extra=fields("send", request_id=request_id, outcome="replayed"),
                )
                return replay
        message_id = f"msg_{uuid.uuid4().hex}"
        try:
            accepted = parts.outbox.accept(
                message, message_id, deliver_now=deliver_now, options=options, source=source
            )
        except Exception:
            if key is not None:
                self._idempotency.release(key)  # nothing was accepted
            raise
        answer = self._render.accepted(accepted)
        log.info(
            "send request_id=%s id=%s zoho_message_id=%s outcome=%s status=%d recipients=%d",
            request_id,
            message_id,
            accepted.receipt.zoho_message_id if accepted.receipt else None,
            accepted.outcome,
            answer.status,
            message.recipient_count,
            extra=fields(
                "send",
                mailbox=mailbox,
                request_id=request_id,
                message_id=message_id,
                outcome=accepted.outcome,
                status=answer.status,
            ),
        )
        if key is not None:
            self._idempotency.complete(key, answer.status, answer.body)
        return answer

    def _claim(self, outbox: Outbox, key: str, fingerprint: str) -> Answer | None:
        now = self._clock.now()
        record = self._idempotency.claim(
            key,
            fingerprint,
            now=now,
            leased_until=now + IDEMPOTENCY_LEASE_SECONDS,
            expires_at=now + IDEMPOTENCY_TTL_SECONDS,
        )
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise Conflict(
                "this Idempotency-Key was used with a different body; use a new key",
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        if record.status is None or record.answer is None:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly",
                field="Idempotency-Key",
                code="idempotency_in_progress",
            )
        if record.status < 400 and "id" in record.answer:
            # Sent or queued then: the message may have moved on since.
            stored = outbox.get(record.answer["id"])
            if stored is not None:
                return self._render.replayed(stored)
        return Answer(record.status, record.answer, replayed=True)
