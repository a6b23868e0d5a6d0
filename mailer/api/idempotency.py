"""``Idempotency-Key``: the same key with the same body within 24 hours answers as the first
request did and sends nothing more. A header of the HTTP API, so it lives here: what it records
and replays is an HTTP answer."""

from __future__ import annotations

import hashlib
import json
import logging
import re

from mailer.api.answers import Answer, accepted, replayed
from mailer.composition.gateway import Gateway
from mailer.runtime.errors import Conflict, InvalidRequest
from mailer.runtime.logs import fields
from mailer.sending.service import SendRequest

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
    """``POST /api/email/send``: the send service's answer, or the first answer for a key."""
    key = check_idempotency_key(key)
    request = gateway.sending.prepare(body, mailbox)
    if key is None:
        return _accept(gateway, request, request_id)
    if mailbox != gateway.settings.mailbox:
        # Each mailbox's keys are its own; a key holds no space, so no two names meet.
        key = f"{mailbox} {key}"
    replay = _claim(gateway, mailbox, key, body_fingerprint(body))
    if replay is not None:
        log.info(
            "send request_id=%s outcome=replayed status=%d",
            request_id,
            replay.status,
            extra=fields("send", request_id=request_id, outcome="replayed"),
        )
        return replay
    try:
        answer = _accept(gateway, request, request_id)
    except Exception:
        gateway.storage.idempotency.release(key)  # nothing was accepted
        raise
    gateway.storage.idempotency.complete(key, answer.status, answer.body)
    return answer


def _accept(gateway: Gateway, request: SendRequest, request_id: str) -> Answer:
    """A new message stored (and maybe sent), its answer, and the send's log line."""
    outcome = gateway.sending.accept(request, request_id=request_id)
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


def _claim(gateway: Gateway, mailbox: str, key: str, fingerprint: str) -> Answer | None:
    now = gateway.clock.now()
    record = gateway.storage.idempotency.claim(
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
        stored = gateway.parts(mailbox).outbox.get(record.answer["id"])
        if stored is not None:
            return replayed(stored)
    return Answer(record.status, record.answer, replayed=True)
