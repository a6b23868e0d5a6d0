"""What the state store keeps and for how long: plain rules, applied by every engine."""

from __future__ import annotations

from dataclasses import dataclass

# A used or expired consent state is kept a day, so that a late callback says "expired".
OAUTH_STATE_KEEP_SECONDS = 86400


@dataclass(frozen=True)
class Cutoffs:
    """Delete finished messages before ``messages_finished_before``; records expired by ``now``."""

    messages_finished_before: float
    now: float

    @property
    def oauth_states_expired_before(self) -> float:
        return self.now - OAUTH_STATE_KEEP_SECONDS


def cutoffs(now: float, retention_seconds: float) -> Cutoffs:
    return Cutoffs(messages_finished_before=now - retention_seconds, now=now)
