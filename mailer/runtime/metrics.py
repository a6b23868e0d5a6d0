"""Prometheus metrics: counters kept by every worker, summed over a host's workers at scrape.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before
anything imports prometheus_client, so each worker writes its counters there and a scrape sums
them; a dead worker's files are marked (``worker_died``). Without it (``flask run``, tests) the
counters are this process's. Gauges that belong to the state (queue depth, token seconds left)
are read from the state store at scrape time, so every worker and host agrees. Label values are
bounded: mailbox names, statuses, call names, outcomes, routes; never an address or a token.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

MESSAGES = Counter(
    "mailer_messages_total", "Messages that reached each status.", ["mailbox", "status"]
)
CALLS_TO_ZOHO = Counter("mailer_zoho_calls_total", "Calls made to Zoho.", ["call", "outcome"])
RENEWALS = Counter(
    "mailer_token_renewals_total",
    "Access-token renewals and how they ended.",
    ["mailbox", "outcome"],
)
REFUSED = Counter(
    "mailer_accept_refused_total",
    "Sends a mailbox refused by back-pressure, by reason.",
    ["mailbox", "reason"],
)
HTTP_DURATION = Histogram(
    "mailer_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method", "status"],
)


class _Switch:
    on = True


_switch = _Switch()


def count(on: bool) -> None:
    """MAILER_METRICS: whether this process counts (one gateway a process; tests make many)."""
    _switch.on = on


def message_reached(mailbox: str, status: str) -> None:
    if _switch.on:
        MESSAGES.labels(mailbox, status).inc()


def accept_refused(mailbox: str, reason: str) -> None:
    if _switch.on:
        REFUSED.labels(mailbox, reason).inc()


def renewal(mailbox: str, outcome: str) -> None:
    if _switch.on:
        RENEWALS.labels(mailbox, outcome).inc()


def zoho_call(call: str, outcome: str) -> None:
    if _switch.on:
        CALLS_TO_ZOHO.labels(call, outcome).inc()


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    if _switch.on:
        HTTP_DURATION.labels(route, method, str(status)).observe(seconds)


@dataclass(frozen=True)
class MailboxState:
    name: str
    queue_depth: int
    token_seconds_left: float
    held: bool = False


class StateCollector(Collector):
    """The gauges read from the state store when Prometheus scrapes."""

    def __init__(self, read: Callable[[], Iterable[MailboxState]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "mailer_queue_depth", "Messages queued or sending.", labels=["mailbox"]
        )
        left = GaugeMetricFamily(
            "mailer_token_seconds_left", "Lifetime left of the access token.", labels=["mailbox"]
        )
        held = GaugeMetricFamily(
            "mailer_mailbox_held", "1 while the mailbox is on hold, else 0.", labels=["mailbox"]
        )
        for state in self._read():
            depth.add_metric([state.name], state.queue_depth)
            left.add_metric([state.name], state.token_seconds_left)
            held.add_metric([state.name], int(state.held))
        yield depth
        yield left
        yield held


def exposition(read_state: Callable[[], Iterable[MailboxState]]) -> bytes:
    """The text Prometheus scrapes: this host's counters (all workers) and the state gauges."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Counters())
    registry.register(StateCollector(read_state))
    return generate_latest(registry)


class _Counters(Collector):
    """This process's own metrics, when there are no worker files to sum."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def worker_died(pid: int) -> None:
    """gunicorn's child_exit: the dead worker's live gauges go; its counters stay summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
