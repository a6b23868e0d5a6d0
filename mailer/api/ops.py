"""``GET /metrics``: the Prometheus text of this host, open unless MAILER_METRICS_KEY is set."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response

from mailer import metrics
from mailer.api.incoming import bearer, gateway
from mailer.api_keys import key_matches
from mailer.errors import StateBusy, StateUnavailable, Unauthorized
from mailer.gateway import Gateway

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    key = gateway().settings.metrics_key
    if key is not None:
        candidate = bearer()
        if candidate is None or not key_matches(candidate, (key,)):
            raise Unauthorized("send `Authorization: Bearer <MAILER_METRICS_KEY>`")
    body = metrics.exposition(lambda: _state(gateway()))
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE)


def _state(gw: Gateway) -> Iterator[metrics.MailboxState]:
    """The gauges of the state; none while the state store does not answer."""
    name = gw.settings.mailbox
    try:
        depth = gw.storage.messages.stats(name).depth
        mailbox = gw.storage.mailboxes.get(name)
    except (StateUnavailable, StateBusy):
        return
    left = 0.0 if mailbox is None else mailbox.seconds_left(gw.clock.now())
    yield metrics.MailboxState(name, depth, left)
