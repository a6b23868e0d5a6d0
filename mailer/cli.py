"""``flask --app app mailer …``: administration from a shell. A command never starts timed work.

Each command calls the same services as the HTTP API, prints a readable table (or, with
``--json``, the API's JSON shape), exits 0 on success, and otherwise prints one line on stderr
and exits 1 (click's usage errors exit 2).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from mailer.composition.gateway import Gateway
from mailer.composition.startup import apply_settings
from mailer.mailboxes.view import connect_link_view, mailbox_view
from mailer.runtime.errors import GatewayError
from mailer.sending.queue import WAITING
from mailer.sending.view import accepted_view, page_view, status_view

mailer = AppGroup("mailer", help="Administer the Zoho Mail gateway.")
db = AppGroup("db", help="The state store's schema.")
mailboxes = AppGroup("mailboxes", help="The mailboxes the gateway sends from.")
keys = AppGroup("keys", help="API keys of mailboxes.")
queue = AppGroup("queue", help="Accepted messages: list, retry, cancel.")
for group in (db, mailboxes, keys, queue):
    mailer.add_command(group)

as_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _gateway() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


@contextmanager
def _service() -> Iterator[Gateway]:
    """The gateway's services on a migrated state; any GatewayError becomes one line."""

    gateway = _gateway()
    try:
        apply_settings(gateway)
        yield gateway
    except GatewayError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    finally:
        gateway.storage.close()


def _print(data: Any, use_json: bool, table: Callable[[Any], Sequence[Sequence[object]]]) -> None:
    if use_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = [[("" if v is None else str(v)) for v in row] for row in table(data)]
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _pairs(data: dict[str, Any]) -> list[list[object]]:
    return [
        [key, json.dumps(value) if isinstance(value, dict | list) else value]
        for key, value in data.items()
    ]


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


@mailer.command("status")
@click.option("--mailbox", default=None, help="The mailbox to report (default: the environment's).")
@as_json
def status(mailbox: str | None, as_json: bool) -> None:
    """Whether a send would be attempted now, and why; exit 1 when not."""
    with _service() as gateway:
        name = mailbox or gateway.settings.mailbox
        gateway.admin.get(name)  # 404 for an unknown mailbox
        parts = gateway.parts(name)
        body = status_view(parts.transport.readiness(), parts.outbox.stats(), name)
    _print(body, as_json, _pairs)
    if not body["ready"]:
        sys.exit(1)


@mailboxes.command("list")
@as_json
def mailboxes_list(as_json: bool) -> None:
    """Every mailbox with its status, address, token expiry and queue."""
    with _service() as gateway:
        views = [mailbox_view(v) for v in gateway.admin.all()]
    header = [["NAME", "STATUS", "ADDRESS", "TOKEN EXPIRES", "NEXT RENEWAL", "QUEUE"]]
    _print(
        {"mailboxes": views},
        as_json,
        lambda data: (
            header
            + [
                [
                    m["name"],
                    m["status"],
                    m["address"],
                    m["token_expires_at"],
                    m["next_renewal_at"],
                    m["queue_depth"],
                ]
                for m in data["mailboxes"]
            ]
        ),
    )


@mailboxes.command("add")
@click.argument("name")
@click.option("--from-address", default=None, help="The mailbox's default sender.")
@click.option("--accounts-server", default=None, help="The data centre's accounts server.")
@click.option(
    "--refresh-token-stdin",
    is_flag=True,
    help="Read a refresh token from stdin and connect at once (never put it on the command line).",
)
@as_json
def mailboxes_add(
    name: str,
    from_address: str | None,
    accounts_server: str | None,
    refresh_token_stdin: bool,
    as_json: bool,
) -> None:
    """Add a mailbox; prints its connect link (for its owner, or to reconnect)."""
    body: dict[str, Any] = {"name": name}
    if from_address is not None:
        body["from_address"] = from_address
    if accounts_server is not None:
        body["accounts_server"] = accounts_server
    if refresh_token_stdin:
        body["refresh_token"] = sys.stdin.readline().strip()
    with _service() as gateway:
        created = gateway.admin.create(body)
    view = {**mailbox_view(created.view), "connect_url": created.link.url}
    _print(
        view,
        as_json,
        lambda v: [["name", v["name"]], ["status", v["status"]], ["connect_url", v["connect_url"]]],
    )


@mailboxes.command("connect-link")
@click.argument("name")
@as_json
def mailboxes_connect_link(name: str, as_json: bool) -> None:
    """A new single-use link that connects (or reconnects) the mailbox."""
    with _service() as gateway:
        link = connect_link_view(gateway.admin.connect_link(name))
    _print(link, as_json, _pairs)


@mailboxes.command("remove")
@click.argument("name")
def mailboxes_remove(name: str) -> None:
    """Delete a mailbox: its token revoked at Zoho, its keys deleted, its waiting mail failed."""
    with _service() as gateway:
        gateway.admin.delete(name)
    click.echo(f"removed mailbox {name}")


@keys.command("create")
@click.argument("mailbox")
@as_json
def keys_create(mailbox: str, as_json: bool) -> None:
    """A new API key of MAILBOX, shown this once (stored hashed)."""
    with _service() as gateway:
        issued = gateway.admin.issue_key(mailbox)
    _print({"id": issued.id, "mailbox": issued.mailbox, "key": issued.key}, as_json, _pairs)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: it stops working at once in every worker and host."""
    with _service() as gateway:
        gateway.admin.revoke_key(key_id)
    click.echo(f"revoked {key_id}")


@mailer.command("send")
@click.option("--to", "to", required=True, multiple=True, help="A recipient (repeatable).")
@click.option("--subject", required=True)
@click.option("--text", default=None, help="The plain-text body.")
@click.option("--html", default=None, help="The HTML body.")
@click.option("--from", "sender", default=None, help="A send-as address of the mailbox.")
@click.option(
    "--mailbox", default=None, help="The mailbox to send from (default: the environment's)."
)
@as_json
def send(
    to: tuple[str, ...],
    subject: str,
    text: str | None,
    html: str | None,
    sender: str | None,
    mailbox: str | None,
    as_json: bool,
) -> None:
    """Store a message in the outbox, as the HTTP API does; a running gateway delivers it."""
    body: dict[str, Any] = {"to": list(to), "subject": subject}
    for field, value in (("text", text), ("html", html), ("from", sender)):
        if value is not None:
            body[field] = value
    with _service() as gateway:
        name = mailbox or gateway.settings.mailbox
        gateway.admin.get(name)
        accepted = gateway.sending.send(
            body,
            request_id=f"cli-{uuid.uuid4().hex[:12]}",
            mailbox=name,
            deliver_now=False,
        )
    _print(accepted_view(accepted), as_json, _pairs)


mailbox_option = click.option(
    "--mailbox", default=None, help="The mailbox (default: the environment's)."
)


@queue.command("list")
@mailbox_option
@click.option("--status", default=None, help="Only messages in this status (default: waiting).")
@click.option("--limit", default=50, show_default=True, type=int)
@as_json
def queue_list(mailbox: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """A mailbox's waiting messages (or those in --status), newest first."""
    with _service() as gateway:
        name = mailbox or gateway.settings.mailbox
        page = gateway.queue.page(name, status=status, limit=limit, statuses=WAITING)
    header = [["ID", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR"]]
    _print(
        page_view(page),
        as_json,
        lambda data: (
            header
            + [
                [
                    m["id"],
                    m["status"],
                    m["attempts"],
                    m["created_at"],
                    (m["last_error"] or {}).get("code"),
                ]
                for m in data["messages"]
            ]
        ),
    )


@queue.command("retry")
@click.argument("message_id")
@mailbox_option
def queue_retry(message_id: str, mailbox: str | None) -> None:
    """Put a failed (or waiting) message back in the queue, due now; a running gateway sends it."""
    with _service() as gateway:
        gateway.queue.requeue(mailbox or gateway.settings.mailbox, message_id)
    click.echo(f"requeued {message_id}")


@queue.command("cancel")
@click.argument("message_id")
@mailbox_option
def queue_cancel(message_id: str, mailbox: str | None) -> None:
    """Cancel a queued or scheduled message: it will never be sent."""
    with _service() as gateway:
        gateway.queue.cancel(mailbox or gateway.settings.mailbox, message_id)
    click.echo(f"canceled {message_id}")
