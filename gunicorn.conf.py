"""Production defaults for ``gunicorn wsgi:app``; GUNICORN_CMD_ARGS overrides any of them."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

load_dotenv()


# Metrics are summed over the workers (prometheus_client's multiprocess mode): each worker writes
# its counters to files in this directory, which must be set before anything imports
# prometheus_client, and must start empty. The gateway makes its own unless one is given.
def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _remove_orphaned_metrics() -> None:
    """A master that died without its clean stop (kill -9, a crash, the OOM killer) leaves its
    directory behind; each directory names its master, so those whose master is gone go."""
    for directory in Path(tempfile.gettempdir()).glob("mailer-metrics-*-*"):
        pid = directory.name.split("-")[2]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
_own_metrics_dir = not _metrics_dir
if _own_metrics_dir:
    _remove_orphaned_metrics()
    _metrics_dir = tempfile.mkdtemp(prefix=f"mailer-metrics-{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
else:
    for _stale in Path(_metrics_dir).glob("*.db"):
        _stale.unlink()

_port = os.environ.get("PORT", "").strip()
# Hosting platforms hand the port in PORT and expect every interface; else stay local.
bind = [f"0.0.0.0:{_port}"] if _port else ["127.0.0.1:8000"]

# Threads suit a gateway that mostly waits on Zoho; two processes use both cores.
worker_class = "gthread"
workers = 2
threads = 16
# A request may wait for a renewal (one Zoho call, 15 s timeout) and then a send.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Load the app once in the master: a bad setting stops gunicorn at once instead of every
# worker failing in a loop. The state is prepared once the port is bound (when_ready), before
# any worker starts; timed work starts per worker, after the fork (post_worker_init).
preload_app = True
accesslog = None
errorlog = "-"
if os.environ.get("MAILER_LOG_FORMAT", "").strip().lower() == "json":
    # gunicorn's own lines (booting, signals, worker deaths) as JSON too, one object a line.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "mailer.runtime.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False}
        },
    }


def when_ready(server: Any) -> None:
    from mailer import prepare_state
    from mailer.runtime.errors import GatewayError

    try:
        prepare_state(server.app.wsgi())
    except GatewayError as exc:
        server.log.error("mailer: cannot prepare the state store: %s", exc.message)
        sys.exit(3)


# glibc gives each thread that allocates at once an arena of its own, up to 8 per core; a
# worker's 16 threads then hold memory that no other thread reuses. Two arenas per worker keep
# its resident memory down (the GIL already takes the threads' turns). MALLOC_ARENA_MAX, when
# set, is glibc's own setting and wins; a libc without mallopt (musl) is left alone.
M_ARENA_MAX = -8
WORKER_ARENAS = 2


def post_fork(server: Any, worker: Any) -> None:
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes

    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, WORKER_ARENAS)


def post_worker_init(worker: Any) -> None:
    from mailer import start_background

    worker.mailer_scheduler = start_background(worker.wsgi, threads=worker.cfg.threads)


def child_exit(server: Any, worker: Any) -> None:
    from mailer.runtime.metrics import worker_died

    worker_died(worker.pid)


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def worker_exit(server: Any, worker: Any) -> None:
    scheduler = getattr(worker, "mailer_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown(wait=False)
        worker.wsgi.extensions["mailer"].jobs.stop()


# gunicorn 25+ opens a control socket in ~/.gunicorn; one fixed path per user breaks several
# gateways (or test servers) on one host, and the gateway does not use it.
control_socket_disable = True
