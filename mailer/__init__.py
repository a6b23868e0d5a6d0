"""The Zoho Mail HTTP gateway. ``create_app`` is the composition root: it reads no environment,
starts no thread and writes nothing. The start-up path calls ``prepare_state`` (schema
migrations, the environment's refresh token) once the port is bound, and ``start_background``
in each serving process."""

from __future__ import annotations

import random
from typing import Any

import requests
from flask import Flask

from mailer import api, cli, smtp
from mailer.composition import startup
from mailer.composition.gateway import Gateway
from mailer.composition.wiring import Upstreams, wire
from mailer.config.settings import Settings
from mailer.runtime import metrics
from mailer.runtime.clock import Clock, SystemClock
from mailer.runtime.scheduler import start_scheduler
from mailer.storage import open_storage
from mailer.storage.ports import Storage
from mailer.zoho.http import ZohoSession

__all__ = ["Settings", "create_app", "prepare_state", "start_background"]


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    storage: Storage | None = None,
    session: ZohoSession | None = None,
    webhook_session: requests.Session | None = None,
    rng: random.Random | None = None,
    inline: bool = False,
) -> Flask:
    """Wire the gateway for ``settings``; tests hand in a fake clock, their storage or Sessions,
    and ``inline=True`` to run the timed work's renewals and deliveries in the caller's thread."""
    clock = clock or SystemClock()
    storage = storage or open_storage(
        settings.db,
        timeout_seconds=settings.db_timeout_seconds,
        encryption_keys=settings.encryption_keys,
    )
    gateway = wire(settings, clock, storage, Upstreams(session, webhook_session, rng), inline)
    metrics.count(settings.metrics)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mailer"] = gateway
    api.register(app)
    app.cli.add_command(cli.mailer)
    return app


def prepare_state(app: Flask) -> None:
    """The start-up path, once per host: migrate the schema, apply ZOHO_REFRESH_TOKEN."""
    startup.prepare_state(app.extensions["mailer"])


def start_background(app: Flask, *, threads: int = 16) -> Any:
    """Start a serving process's timed work (renewal, delivery) and, with MAILER_SMTP_PORT,
    its SMTP listener; returns the scheduler.

    ``threads`` is the process's request threads, which its state connections are sized to.
    """
    gateway: Gateway = app.extensions["mailer"]
    listens = gateway.settings.smtp_port or gateway.settings.smtps_port
    gateway.storage.size_pool(threads + (smtp.POOL_THREADS if listens else 0))
    if listens:
        gateway.jobs.on_stop.append(smtp.SMTPListener(gateway).start().stop)
    jobs = gateway.jobs
    return start_scheduler(
        startup=jobs.startup,
        tick=jobs.tick,
        deliver=jobs.deliver,
        housekeeping=jobs.housekeeping,
        read_bounces=jobs.read_bounces if gateway.settings.bounces else None,
    )
