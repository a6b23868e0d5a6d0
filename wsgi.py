"""Gunicorn entry point: load .env, read and check settings, create the app."""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv

from mailer import create_app
from mailer.logs import configure_logging
from mailer.settings import SettingsError, from_env

load_dotenv()  # a .env in the working directory; real environment variables win
configure_logging(os.environ.get("MAILER_LOG_LEVEL", "INFO"))
try:
    settings = from_env(os.environ)
except SettingsError as exc:
    print(f"mailer: {exc}", file=sys.stderr)
    sys.exit(2)
app = create_app(settings)
