"""Webhooks: events stored with the change that causes them, POSTed with Standard Webhooks
signatures, retried with back-off for 24 hours.

Each event keeps its ``webhook-id`` on every retry. A delivery has a short timeout, follows no
redirect, and goes only to a public address unless MAILER_WEBHOOK_ALLOW_PRIVATE is set (the host
is resolved and every address checked at each delivery).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

import requests

from mailer.config.settings import Settings
from mailer.config.values import webhook_key
from mailer.runtime.backoff import backoff
from mailer.runtime.clock import Clock, utc_iso
from mailer.runtime.destinations import private_address
from mailer.storage.ports import WebhookQueue
from mailer.storage.records import WebhookEvent

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
GIVE_UP_AFTER_SECONDS = 24 * 3600.0
LEASE_SECONDS = 60.0
PER_PASS = 20


def signature(key: bytes, event_id: str, timestamp: int, body: str) -> str:
    """Standard Webhooks: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{event_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_session() -> requests.Session:
    """The Session events are POSTed with: no proxy from the environment sees them."""
    session = requests.Session()
    session.trust_env = False
    return session


class DeliveryFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Webhooks:
    """Makes events (when configured) and delivers the stored ones."""

    def __init__(
        self,
        *,
        settings: Settings,
        queue: WebhookQueue,
        clock: Clock,
        session: requests.Session | None = None,
    ) -> None:
        self._url = settings.webhook_url
        key = webhook_key(settings.webhook_secret) if settings.webhook_secret else None
        self._key = key
        self._allow_private = settings.webhook_allow_private
        self._queue = queue
        self._clock = clock
        self._session = session or webhook_session()

    def __repr__(self) -> str:
        return f"Webhooks(configured={self.configured})"

    @property
    def configured(self) -> bool:
        return self._url is not None and self._key is not None

    def event(self, event_type: str, data: dict[str, Any]) -> WebhookEvent | None:
        """A new event to store with its cause; None when webhooks are off."""
        if not self.configured:
            return None
        now = self._clock.now()
        body = json.dumps(
            {"type": event_type, "timestamp": utc_iso(now), "data": data},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        about = data.get("id") if event_type.startswith("message.") else None
        return WebhookEvent(f"evt_{secrets.token_hex(12)}", event_type, body, now, message_id=about)

    def deliver_due(self) -> int:
        """One pass: POST the due events; returns how many the receiver took."""
        if not self.configured:
            return 0
        now = self._clock.now()
        delivered = 0
        for event in self._queue.claim_due(
            now=now, leased_until=now + LEASE_SECONDS, limit=PER_PASS
        ):
            delivered += self._attempt(event)
        return delivered

    def _attempt(self, event: WebhookEvent) -> int:
        attempts = event.attempts + 1
        try:
            self._post(event)
        except DeliveryFailed as exc:
            now = self._clock.now()
            if now - event.created_at >= GIVE_UP_AFTER_SECONDS:
                self._queue.give_up(event.id, attempts=attempts, error=exc.reason, now=now)
                log.error(
                    "webhook %s (%s) given up after %d attempts in 24 h: %s",
                    event.id,
                    event.type,
                    attempts,
                    exc.reason,
                )
                return 0
            delay = backoff(FIRST_RETRY_SECONDS, attempts, cap_seconds=MAX_RETRY_SECONDS)
            self._queue.retry(
                event.id, attempts=attempts, next_attempt_at=now + delay, error=exc.reason, now=now
            )
            log.warning(
                "webhook %s (%s) attempt %d failed (%s); retry in %d s",
                event.id,
                event.type,
                attempts,
                exc.reason,
                delay,
            )
            return 0
        self._queue.delivered(event.id, attempts=attempts, now=self._clock.now())
        log.info("webhook %s (%s) delivered, attempt %d", event.id, event.type, attempts)
        return 1

    def _post(self, event: WebhookEvent) -> None:
        assert self._url is not None and self._key is not None
        if not self._allow_private:
            try:
                private = private_address(self._url)
            except OSError as exc:
                raise DeliveryFailed(f"the host does not resolve ({type(exc).__name__})") from exc
            if private is not None:
                raise DeliveryFailed(
                    f"the host resolves to {private}, a private address "
                    "(MAILER_WEBHOOK_ALLOW_PRIVATE is not set)"
                )
        timestamp = int(self._clock.now())
        headers = {
            "content-type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._key, event.id, timestamp, event.body),
        }
        try:
            response = self._session.post(
                self._url,
                data=event.body.encode(),
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise DeliveryFailed(type(exc).__name__) from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}")
