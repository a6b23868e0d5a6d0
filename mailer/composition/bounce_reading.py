"""The bounce poll as a serving process runs it (MAILER_BOUNCES=on), or nothing."""

from __future__ import annotations

from collections.abc import Callable

from mailer.composition.timed_jobs import NoSweep, Sweep
from mailer.config.settings import Settings
from mailer.mailboxes.bounce_poll import BouncePoll
from mailer.mailboxes.tokens import TokenService
from mailer.runtime import pacing
from mailer.runtime.clock import Clock
from mailer.runtime.fanout import Fanout
from mailer.storage.outbox_ports import EventMaker
from mailer.storage.ports import Storage
from mailer.zoho.http import ZohoSession
from mailer.zoho.inbox import ZohoInbox

BOUNCE_THREADS = 2


def bounce_poll(
    settings: Settings,
    clock: Clock,
    storage: Storage,
    *,
    tokens: TokenService | None,
    session: ZohoSession | None,
    events: EventMaker,
    inline: bool,
    look_up_account: Callable[[str], None],
) -> tuple[Sweep, Fanout | None]:
    """The poll and the threads it reads on; nothing when bounces are off or in the dry run."""
    if not settings.bounces or tokens is None or session is None:
        return NoSweep(), None
    fanout = Fanout("bounces", threads=BOUNCE_THREADS, inline=inline)
    poll = BouncePoll(
        store=storage.bounces,
        tokens=tokens,
        inbox=ZohoInbox(session),
        ledger=storage.ledger,
        windows=pacing.windows_for(settings.rate_limits),
        events=events,
        clock=clock,
        fanout=fanout,
        poll_seconds=settings.bounce_poll_seconds,
        look_up_account=look_up_account,
    )
    return poll, fanout
