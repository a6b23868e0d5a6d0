"""Development entry point: ``flask --app app run`` (gunicorn uses wsgi.py)."""

from __future__ import annotations

from mailer import start_background
from wsgi import app

# No gunicorn hooks here, so this process runs the timed work itself.
scheduler = start_background(app)

__all__ = ["app"]
