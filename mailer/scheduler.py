"""APScheduler jobs and nothing else: it ticks, the services decide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

# How often each worker asks whether a renewal is due: one SQLite read, so cheap.
TICK_SECONDS = 1.0


def start_scheduler(
    startup: Callable[[], None], tick: Callable[[], None], *, tick_seconds: float = TICK_SECONDS
) -> BackgroundScheduler:
    """Run ``startup`` at once, then ``tick`` every ``tick_seconds``, in a daemon thread."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        daemon=True,
    )
    scheduler.add_job(startup, id="startup")
    scheduler.add_job(tick, "interval", seconds=tick_seconds, id="tick")
    scheduler.start()
    return scheduler
