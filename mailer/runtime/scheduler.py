"""APScheduler jobs and nothing else: it ticks, the services decide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

# How often each worker asks whether a renewal is due: one SQLite read, so cheap.
TICK_SECONDS = 1.0


# How often each worker's delivery loop looks for due messages.
DELIVERY_SECONDS = 1.0
HOUSEKEEPING_SECONDS = 3600.0
# How often each worker looks for mailboxes due to have their bounces read.
BOUNCE_LOOK_SECONDS = 5.0


def start_scheduler(
    *,
    startup: Callable[[], None],
    tick: Callable[[], None],
    deliver: Callable[[], None],
    housekeeping: Callable[[], None],
    read_bounces: Callable[[], None] | None = None,
    tick_seconds: float = TICK_SECONDS,
) -> BackgroundScheduler:
    """Run ``startup`` at once, then ``tick`` and ``deliver`` often, ``read_bounces`` every few
    seconds (each mailbox is read on its own schedule), ``housekeeping`` hourly."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        daemon=True,
    )
    scheduler.add_job(startup, id="startup")
    scheduler.add_job(tick, "interval", seconds=tick_seconds, id="tick")
    scheduler.add_job(deliver, "interval", seconds=DELIVERY_SECONDS, id="deliver")
    scheduler.add_job(housekeeping, "interval", seconds=HOUSEKEEPING_SECONDS, id="housekeeping")
    if read_bounces is not None:
        scheduler.add_job(read_bounces, "interval", seconds=BOUNCE_LOOK_SECONDS, id="bounces")
    scheduler.start()
    return scheduler
