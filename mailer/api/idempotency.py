"""``Idempotency-Key``: the same key with the same body within 24 hours answers as the first
request did and sends nothing more. A header of the HTTP API, so it lives here: what it records
and replays is an HTTP answer."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from mailer.api.answers import Answer, accepted, replayed
from mailer.composition.gateway import Gateway
from mailer.runtime.errors import Conflict, InvalidRequest
from mailer.runtime.logs import fields
from mailer.sending.results import Accepted, IdempotencyKeyTaken
from mailer.sending.service import SendRequest
from mailer.storage.admission_records import IdempotencyClaim, IdempotencyRecord

log = logging.getLogger(__name__)

# The same key with the same body within this long returns the first answer.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# A request in flight holds its key this long at most; a dead worker's claim then lapses.
IDEMPOTENCY_LEASE_SECONDS = 300
MAX_IDEMPOTENCY_KEY_CHARS = 255
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


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


def send_once(
    gateway: Gateway, body: object, *, key: str | None, mailbox: str, request_id: str
) -> Answer:
    """``POST /api/email/send``: the send service's answer, or the first answer for a key.

    The key is claimed in the transaction that stores the message, and a queued message's
    answer is stored there too; an answer that waited for Zoho is stored after it. A request
    that stored nothing (refused, or the store failed) claimed nothing: its retry with the
    same key is a new request."""
    key = check_idempotency_key(key)
    request = gateway.sending.prepare(body, mailbox)
    if key is None:
        return _accept(gateway, request, request_id)
    if mailbox != gateway.settings.mailbox:
        # Each mailbox's keys are its own; a key holds no space, so no two names meet.
        key = f"{mailbox} {key}"
    now = gateway.clock.now()
    fingerprint = body_fingerprint(body)
    claim = IdempotencyClaim(
        key,
        fingerprint,
        leased_until=now + IDEMPOTENCY_LEASE_SECONDS,
        expires_at=now + IDEMPOTENCY_TTL_SECONDS,
        answer=_queued_answer,
    )
    try:
        answer = _accept(gateway, request, request_id, claim=claim)
    except IdempotencyKeyTaken as taken:
        replay = _replay(gateway, mailbox, taken.record, fingerprint)
        log.info(
            "send request_id=%s outcome=replayed status=%d",
            request_id,
            replay.status,
            extra=fields("send", request_id=request_id, outcome="replayed"),
        )
        return replay
    if not answer.kept:
        gateway.storage.idempotency.complete(key, answer.status, answer.body)
    return answer


def _queued_answer(message_id: str, scheduled: bool) -> tuple[int, dict[str, Any]]:
    """What a queued (or scheduled) message's request is answered, kept with its key."""
    answer = accepted(Accepted(message_id, scheduled=scheduled))
    return answer.status, answer.body


def _accept(
    gateway: Gateway,
    request: SendRequest,
    request_id: str,
    *,
    claim: IdempotencyClaim | None = None,
) -> Answer:
    """A new message stored (and maybe sent), its answer, and the send's log line."""
    outcome = gateway.sending.accept(request, request_id=request_id, claim=claim)
    answer = accepted(outcome)
    log.info(
        "send request_id=%s id=%s zoho_message_id=%s outcome=%s status=%d recipients=%d",
        request_id,
        outcome.message_id,
        outcome.receipt.zoho_message_id if outcome.receipt else None,
        outcome.outcome,
        answer.status,
        request.message.recipient_count,
        extra=fields(
            "send",
            mailbox=request.mailbox,
            request_id=request_id,
            message_id=outcome.message_id,
            outcome=outcome.outcome,
            status=answer.status,
        ),
    )
    return answer


def _replay(gateway: Gateway, mailbox: str, record: IdempotencyRecord, fingerprint: str) -> Answer:
    """The answer for a request whose key an earlier request holds: its first answer (the
    message as it stands now, if it is still kept), or 409."""
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
        stored = gateway.parts(mailbox).outbox.get(record.answer["id"])
        if stored is not None:
            return replayed(stored)
    return Answer(record.status, record.answer, replayed=True)
