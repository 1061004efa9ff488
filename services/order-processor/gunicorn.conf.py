"""Gunicorn settings for order-processor; the same file serves locally and in the container.

One worker process: the workflow worker is one gRPC stream per process to the sidecar, and
its runtime must start after the fork (gRPC channels do not survive one), in that worker.
More processes would mean more streams competing for the same work items for no gain;
scale with replicas instead. Threads (gthread) serve concurrent API requests.
"""

import contextlib
import os
import sys
from typing import Any

from servicekit.workers import gunicorn_settings, is_own_exit, stop_gracefully_on_quit

# Gunicorn reads the settings from this file's globals.
globals().update(
    gunicorn_settings(
        "order_processor:create_app()",
        default_port=8080,
        workers=1,
        # Long polls (GET /orders/<id>?wait=) each hold a thread while they wait: at most
        # MAX_WAITING_REQUESTS of them (Settings), on threads of their own on top of
        # GUNICORN_THREADS, so waiting clients never take the threads other requests need. An
        # idle thread costs ~no CPU.
        threads=int(os.environ.get("GUNICORN_THREADS", "8"))
        + int(os.environ.get("MAX_WAITING_REQUESTS", "32")),
        # Never load the app in the master: the runtime and its gRPC channels belong to the
        # worker.
        preload_app=False,
        # post_worker_init waits (bounded) for the workflow stream before the worker heartbeats.
        timeout=120,
        graceful_timeout=30,
    )
)


def post_worker_init(worker: Any) -> None:
    """In the worker: stop gracefully on any quit signal, then connect the workflow worker."""
    # Imported here, in the worker: the master never loads the app.
    from order_processor import extension  # noqa: PLC0415

    stop_gracefully_on_quit(worker)
    extension.start(worker.wsgi)


def worker_exit(server: Any, worker: Any) -> None:
    """In the worker: stop the workflow worker and send the last spans, then end the process
    even if a library thread lingers. The SDK's work-item loop is not a daemon thread, and a
    worker left behind by a killed master would keep the app port."""
    if not is_own_exit(worker):
        return
    from order_processor import extension  # noqa: PLC0415
    from servicekit import tracing  # noqa: PLC0415

    try:
        extension.stop(worker.wsgi)
        tracing.flush()
    finally:
        # Under `dapr run` stdout is a pipe the stopping CLI may have closed: a failed flush
        # must not skip the exit.
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        os._exit(0)
