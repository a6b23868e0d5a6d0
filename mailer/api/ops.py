"""``GET /metrics``: the Prometheus text of this host, open unless MAILER_METRICS_KEY is set."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response

from mailer.api.incoming import bearer, gateway
from mailer.composition.gateway import Gateway
from mailer.mailboxes.api_keys import key_matches
from mailer.runtime import metrics
from mailer.runtime.errors import NotFound, StateBusy, StateUnavailable, Unauthorized

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    if not gateway().settings.metrics:
        raise NotFound("metrics are off (MAILER_METRICS=off)", code="metrics_off")
    key = gateway().settings.metrics_key
    if key is not None:
        candidate = bearer()
        if candidate is None or not key_matches(candidate, (key,)):
            raise Unauthorized("send `Authorization: Bearer <MAILER_METRICS_KEY>`")
    body = metrics.exposition(lambda: _state(gateway()))
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE)


def _state(gw: Gateway) -> Iterator[metrics.MailboxState]:
    """The gauges of every mailbox (the environment's even before it is connected); none
    while the state store does not answer."""
    try:
        depths = gw.storage.messages.depths()
        mailboxes = {m.name: m for m in gw.storage.mailboxes.all()}
        holds = gw.storage.ledger.holds()
    except (StateUnavailable, StateBusy):
        return
    now = gw.clock.now()
    for name in sorted({gw.settings.mailbox, *mailboxes, *depths}):
        mailbox = mailboxes.get(name)
        left = 0.0 if mailbox is None else mailbox.seconds_left(now)
        yield metrics.MailboxState(name, depths.get(name, 0), left, name in holds)
