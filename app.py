"""Development entry point: ``flask --app app run`` (gunicorn uses wsgi.py).

Only the ``run`` command serves, so only it prepares the state and starts the timed work;
``flask --app app mailer …`` commands load the app and start nothing.
"""

from __future__ import annotations

import click

from mailer import prepare_state, start_background
from wsgi import app

_command = click.get_current_context(silent=True)
if _command is not None and _command.info_name == "run":
    prepare_state(app)
    scheduler = start_background(app)

__all__ = ["app"]
