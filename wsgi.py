"""Gunicorn entry point: load .env, read and check settings, create the app."""

from __future__ import annotations

import logging
import os
import sys

from dotenv import load_dotenv

from mailer import create_app
from mailer.config import SettingsError, from_env
from mailer.runtime.logs import FORMATS, configure_logging

load_dotenv()  # a .env in the working directory; real environment variables win
log_format = os.environ.get("MAILER_LOG_FORMAT", "").strip().lower() or "text"
if log_format not in FORMATS:
    print(f"mailer: MAILER_LOG_FORMAT: {log_format!r} is not 'text' or 'json'", file=sys.stderr)
    sys.exit(2)
configure_logging(os.environ.get("MAILER_LOG_LEVEL", "INFO"), log_format)
try:
    settings = from_env(os.environ)
except SettingsError as exc:
    if log_format == "json":
        logging.getLogger("mailer").error("%s", exc)
    else:
        print(f"mailer: {exc}", file=sys.stderr)
    sys.exit(2)
app = create_app(settings)
