"""One log line per event, UTC times; set up by the entry points only."""

from __future__ import annotations

import logging
import sys
import time


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr as ``2026-11-22T10:00:00Z INFO mailer.tokens [pid] message``."""
    formatter = logging.Formatter(
        "%(asctime)sZ %(levelname)s %(name)s [%(process)d] %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs every connection at DEBUG; its INFO and above are enough.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # During a database outage the pool warns at every reconnection attempt; the gateway says
    # it once (gateway._run) and answers 503 state_unavailable meanwhile.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    logging.getLogger("yoyo").setLevel(logging.WARNING)
