"""Gunicorn worker hooks that every service's gunicorn.conf.py shares."""

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
