"""One log line per event, UTC times, as text or JSON; set up by the entry points only.

A call can name its event and fields: ``log.info("...", extra=fields(event="send", ...))``;
the JSON format carries them as keys, the text format only in its message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FORMATS = ("text", "json")
# What an event may carry as JSON keys besides time, level, event and message: bounded
# identifiers, never an address, a body or a token.
FIELDS = ("mailbox", "message_id", "request_id", "outcome", "status", "attempt")


def fields(event: str, **values: Any) -> dict[str, Any]:
    """The ``extra`` of a log call: its event name and fields."""
    unknown = set(values) - set(FIELDS)
    assert not unknown, unknown
    return {"event": event, **values}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, event, message, logger, pid and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": getattr(record, "event", None) or record.name.rsplit(".", 1)[-1],
            "message": record.getMessage(),
            "logger": record.name,
            "pid": record.process,
        }
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(
        "%(asctime)sZ %(levelname)s %(name)s [%(process)d] %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    return formatter


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Log to stderr as ``2026-11-22T10:00:00Z INFO mailer.mailboxes.tokens [pid] message``, or JSON."""
    formatter = JsonFormatter() if log_format == "json" else text_formatter()
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
