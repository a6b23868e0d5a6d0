"""``flask --app app mailer …``: administration from a shell. A command never starts timed work."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from mailer.errors import GatewayError
from mailer.gateway import Gateway

mailer = AppGroup("mailer", help="Administer the Zoho Mail gateway.")
db = AppGroup("db", help="The state store's schema.")
mailer.add_command(db)


def _gateway() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (the gateway also does this at start)."""
    storage = _gateway().storage
    try:
        applied = storage.migrate()
    except GatewayError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        storage.close()
    if applied:
        click.echo(f"upgraded {storage.describe()}: applied {', '.join(applied)}")
    else:
        click.echo(f"{storage.describe()} is up to date")
