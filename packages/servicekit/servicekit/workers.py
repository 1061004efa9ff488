"""Gunicorn worker hooks that every service's gunicorn.conf.py shares.

Gunicorn's master loads the config and with it this module, so nothing heavy is imported here
at module level: tracing is imported in the hook, in the worker."""

import os
import signal
from typing import Any


def stop_gracefully_on_quit(worker: Any) -> None:
    """Make SIGINT and SIGQUIT stop the worker the way SIGTERM does: end the loop, finish the
    requests in flight, run worker_exit.

    Gunicorn's gthread quit handler shuts the thread pool down from inside the signal handler.
    That takes a lock the main thread may be holding at that moment (while it queues a
    request), or already took for the same signal: `dapr stop -f` and Ctrl-C signal the whole
    process group and the master adds a SIGQUIT, so two arrive at once. The worker then hangs
    for good, since the dapr CLI SIGKILLs the master that would have killed it, and it keeps
    the app port: the next `make run` cannot bind. The SIGTERM handler only flags and wakes
    the loop, and is safe to run twice.
    """
    signal.signal(signal.SIGINT, worker.handle_exit)
    signal.signal(signal.SIGQUIT, worker.handle_exit)


def is_own_exit(worker: Any) -> bool:
    """Whether worker_exit runs in the worker itself: gunicorn's master calls the hook too, for
    a worker it reaped, and then there is nothing of the worker's to stop or send."""
    return getattr(worker, "pid", None) == os.getpid()


def post_worker_init(worker: Any) -> None:
    """The hook of a service with nothing else to start in its worker."""
    stop_gracefully_on_quit(worker)


def worker_exit(server: Any, worker: Any) -> None:
    """The hook of a service with nothing else to stop: send the worker's last spans."""
    if not is_own_exit(worker):
        return
    from servicekit import tracing  # noqa: PLC0415 - in the worker, never in the master

    tracing.flush()
