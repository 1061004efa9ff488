"""Gunicorn settings for inventory; the same file serves locally and in the container."""

import os
from typing import Any

bind = f"0.0.0.0:{os.environ.get('APP_PORT', '8081')}"
# Each request is a short call to the sidecar; threads overlap those waits in one process.
# One process: a second doubled the memory (~90 MB a worker) and added no throughput, since
# the machine's CPU, not this app, bounds it (docs/perf.md).
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
wsgi_app = "inventory:create_app()"
graceful_timeout = 20
# Gunicorn 25+ opens a control socket at one fixed path per user; three services would collide.
control_socket_disable = True
reload = os.environ.get("GUNICORN_RELOAD") == "true"  # skaffold dev: pick up synced modules


def post_worker_init(worker: Any) -> None:
    """A quit signal must not wedge the worker (see servicekit.workers)."""
    from servicekit.workers import stop_gracefully_on_quit  # noqa: PLC0415 - worker only

    stop_gracefully_on_quit(worker)


def worker_exit(server: Any, worker: Any) -> None:
    """Send the worker's last spans before it goes."""
    from servicekit import tracing  # noqa: PLC0415 - only ever loaded in the worker

    tracing.flush()
