"""How the outbox retries: attempts, age, back-off with jitter, leases, throttle pauses, holds."""

from __future__ import annotations

import random
from dataclasses import dataclass

from mailer.runtime.backoff import backoff


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries, leases and the cool-down after Zoho throttles the mailbox."""

    max_attempts: int = 10
    max_age_seconds: float = 24 * 3600
    retry_seconds: float = 30
    max_retry_seconds: float = 1800
    lease_seconds: float = 65
    throttle_pause_seconds: float = 60
    max_throttle_pause_seconds: float = 900
    # Answers without a rule in a row (from different messages) that put a mailbox on hold.
    hold_after: int = 3
    # How often a held mailbox tries one message.
    hold_probe_seconds: float = 900

    def retry_delay(self, attempts: int, rng: random.Random) -> float:
        return backoff(self.retry_seconds, attempts, cap_seconds=self.max_retry_seconds, jitter=rng)

    def throttle_pause(self, throttles: int) -> float:
        return backoff(
            self.throttle_pause_seconds, throttles, cap_seconds=self.max_throttle_pause_seconds
        )
