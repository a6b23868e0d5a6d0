"""``flask --app app mailer …``: administration from a shell. A command never starts timed work.

Each command calls the same services as the HTTP API, prints a readable table (or, with
``--json``, the API's JSON shape), exits 0 on success, and otherwise prints one line on stderr
and exits 1 (click's usage errors exit 2).
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import click
from flask.cli import AppGroup

from mailer.cli.check import check
from mailer.cli.common import as_json, gateway_of_app, pairs, print_data, service
from mailer.mailboxes.view import connect_link_view, mailbox_view, suppression_view
from mailer.runtime.errors import GatewayError
from mailer.sending.queue import WAITING
from mailer.sending.view import accepted_view, page_view, status_view

mailer = AppGroup("mailer", help="Administer the Zoho Mail gateway.")
db = AppGroup("db", help="The state store's schema.")
mailboxes = AppGroup("mailboxes", help="The mailboxes the gateway sends from.")
keys = AppGroup("keys", help="API keys of mailboxes.")
queue = AppGroup("queue", help="Accepted messages: list, retry, cancel.")
suppressions = AppGroup("suppressions", help="Addresses a mailbox sends nothing to.")
for group in (db, mailboxes, keys, queue, suppressions):
    mailer.add_command(group)
mailer.add_command(check)


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations (the gateway also does this at start)."""
    storage = gateway_of_app().storage
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
    with service() as gateway:
        name = mailbox or gateway.settings.mailbox
        gateway.admin.get(name)  # 404 for an unknown mailbox
        parts = gateway.parts(name)
        stats = parts.outbox.stats()
        body = status_view(parts.transport.readiness(), stats, name, stats.hold)
    print_data(body, as_json, pairs)
    if not body["ready"]:
        sys.exit(1)


@mailboxes.command("list")
@as_json
def mailboxes_list(as_json: bool) -> None:
    """Every mailbox with its status, address, token expiry and queue."""
    with service() as gateway:
        views = [mailbox_view(v) for v in gateway.admin.all()]
    header = [["NAME", "STATUS", "ADDRESS", "TOKEN EXPIRES", "NEXT RENEWAL", "QUEUE"]]
    print_data(
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
    with service() as gateway:
        created = gateway.admin.create(body)
    view = {**mailbox_view(created.view), "connect_url": created.link.url}
    print_data(
        view,
        as_json,
        lambda v: [["name", v["name"]], ["status", v["status"]], ["connect_url", v["connect_url"]]],
    )


@mailboxes.command("connect-link")
@click.argument("name")
@as_json
def mailboxes_connect_link(name: str, as_json: bool) -> None:
    """A new single-use link that connects (or reconnects) the mailbox."""
    with service() as gateway:
        link = connect_link_view(gateway.admin.connect_link(name))
    print_data(link, as_json, pairs)


@mailboxes.command("resume")
@click.argument("name")
@as_json
def mailboxes_resume(name: str, as_json: bool) -> None:
    """End a mailbox's hold: its waiting mail goes out at the pace."""
    with service() as gateway:
        view = mailbox_view(gateway.admin.resume(name))
    print_data(view, as_json, pairs)


@mailboxes.command("remove")
@click.argument("name")
def mailboxes_remove(name: str) -> None:
    """Delete a mailbox: its token revoked at Zoho, its keys deleted, its waiting mail failed."""
    with service() as gateway:
        gateway.admin.delete(name)
    click.echo(f"removed mailbox {name}")


@keys.command("create")
@click.argument("mailbox")
@as_json
def keys_create(mailbox: str, as_json: bool) -> None:
    """A new API key of MAILBOX, shown this once (stored hashed)."""
    with service() as gateway:
        issued = gateway.admin.issue_key(mailbox)
    print_data({"id": issued.id, "mailbox": issued.mailbox, "key": issued.key}, as_json, pairs)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: it stops working at once in every worker and host."""
    with service() as gateway:
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
    with service() as gateway:
        name = mailbox or gateway.settings.mailbox
        gateway.admin.get(name)
        accepted = gateway.sending.send(
            body,
            request_id=f"cli-{uuid.uuid4().hex[:12]}",
            mailbox=name,
            deliver_now=False,
        )
    print_data(accepted_view(accepted), as_json, pairs)


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
    with service() as gateway:
        name = mailbox or gateway.settings.mailbox
        page = gateway.queue.page(name, status=status, limit=limit, statuses=WAITING)
    header = [["ID", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR"]]
    print_data(
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
    with service() as gateway:
        gateway.queue.requeue(mailbox or gateway.settings.mailbox, message_id)
    click.echo(f"requeued {message_id}")


@queue.command("cancel")
@click.argument("message_id")
@mailbox_option
def queue_cancel(message_id: str, mailbox: str | None) -> None:
    """Cancel a queued or scheduled message: it will never be sent."""
    with service() as gateway:
        gateway.queue.cancel(mailbox or gateway.settings.mailbox, message_id)
    click.echo(f"canceled {message_id}")


@suppressions.command("list")
@click.argument("mailbox")
@as_json
def suppressions_list(mailbox: str, as_json: bool) -> None:
    """The addresses MAILBOX sends nothing to, newest first."""
    with service() as gateway:
        rows = [suppression_view(s) for s in gateway.admin.suppressions(mailbox)]
    print_data(
        {"suppressions": rows},
        as_json,
        lambda data: [[s["address"], s["reason"], s["created_at"]] for s in data["suppressions"]],
    )


@suppressions.command("add")
@click.argument("mailbox")
@click.argument("address")
def suppressions_add(mailbox: str, address: str) -> None:
    """Send nothing more from MAILBOX to ADDRESS."""
    with service() as gateway:
        added = gateway.admin.suppress(mailbox, {"address": address})
    click.echo(f"suppressed {added.address} for {mailbox}")


@suppressions.command("remove")
@click.argument("mailbox")
@click.argument("address")
def suppressions_remove(mailbox: str, address: str) -> None:
    """Send from MAILBOX to ADDRESS again."""
    with service() as gateway:
        gateway.admin.unsuppress(mailbox, address)
    click.echo(f"removed {address} from the suppression list of {mailbox}")
