"""``flask --app app mailer check --to ADDRESS``: the live check against the Zoho the settings
name (the real one in production); see docs/zoho.md."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailer.cli.common import as_json, print_data, service
from mailer.composition.live_check import LiveCheck
from mailer.transports.zoho import ZohoTransport


@click.command("check")
@click.option("--to", "to", required=True, help="Where the check's messages go (only there).")
@click.option("--mailbox", default=None, help="The mailbox to check (default: the environment's).")
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write Zoho's answers here as JSON lines, every secret, address and id replaced.",
)
@as_json
def check(to: str, mailbox: str | None, transcript: Path | None, as_json: bool) -> None:
    """Send a few messages to TO through Zoho and say, step by step, what Zoho answered;
    exit 1 when a step fails."""
    with service() as gateway:
        name = mailbox or gateway.settings.mailbox
        gateway.admin.get(name)  # 404 for an unknown mailbox
        transport = gateway.parts(name).transport
        tokens = gateway.jobs.tokens
        if (
            not isinstance(transport, ZohoTransport)
            or tokens is None
            or gateway.zoho_session is None
        ):
            raise click.ClickException(
                "the check talks to Zoho: set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET"
            )
        live = LiveCheck(
            mailbox=name,
            to=to,
            tokens=tokens,
            transport=transport,
            ledger=gateway.storage.ledger,
            limits=gateway.settings.rate_limits,
            clock=gateway.clock,
            session=gateway.zoho_session,
        )
        if transcript is None:
            rows = live.run()
        else:
            with transcript.open("w", encoding="utf-8") as out:
                rows = live.run(out)
    print_data(
        {"steps": [r.as_json() for r in rows]},
        as_json,
        lambda data: [
            [r["step"], r["result"], r["http_status"], r["code"], r["todo"]] for r in data["steps"]
        ],
    )
    if any(r.result == "fail" for r in rows):
        sys.exit(1)
