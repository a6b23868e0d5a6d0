"""What every command shares: the gateway on a migrated state, one-line errors, the output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app

from mailer.composition.gateway import Gateway
from mailer.composition.startup import apply_settings
from mailer.runtime.errors import GatewayError

as_json = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def gateway_of_app() -> Gateway:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


@contextmanager
def service() -> Iterator[Gateway]:
    """The gateway's services on a migrated state; any GatewayError becomes one line."""

    gateway = gateway_of_app()
    try:
        apply_settings(gateway)
        yield gateway
    except GatewayError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    finally:
        gateway.storage.close()


def print_data(
    data: Any, use_json: bool, table: Callable[[Any], Sequence[Sequence[object]]]
) -> None:
    if use_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = [[("" if v is None else str(v)) for v in row] for row in table(data)]
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def pairs(data: dict[str, Any]) -> list[list[object]]:
    return [
        [key, json.dumps(value) if isinstance(value, dict | list) else value]
        for key, value in data.items()
    ]
