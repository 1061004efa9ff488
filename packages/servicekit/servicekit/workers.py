"""What every service's gunicorn.conf.py shares: its settings and its worker hooks.

Gunicorn's master loads the config and with it this module, so nothing heavy is imported here
at module level: tracing is imported in the hook, in the worker."""

import os
import signal
from typing import Any


def gunicorn_settings(wsgi_app: str, *, default_port: int, **overrides: Any) -> dict[str, Any]:
    """The settings of a service's gunicorn.conf.py, which puts them in its globals (where
    gunicorn reads them); ``overrides`` are the service's own."""
    shared = {
        "bind": f"0.0.0.0:{os.environ.get('APP_PORT', default_port)}",
        # Each request is a short call to the sidecar; threads overlap those waits in one
        # process. One process: a second doubled the memory (~90 MB a worker) and added no
        # throughput, since the machine's CPU, not the app, bounds it (docs/perf.md).
        "worker_class": "gthread",
        "workers": int(os.environ.get("GUNICORN_WORKERS", "1")),
        "threads": int(os.environ.get("GUNICORN_THREADS", "8")),
        "wsgi_app": wsgi_app,
        "graceful_timeout": 20,
        # Whoever sits in front closes an idle connection first, never the app: otherwise a
        # request sent on it as the app closes it is lost ("Server disconnected without sending
        # a response"). In front: the sidecar's pool (Go's 90 s), httpx (5 s), and a kubectl
        # port-forward, which passes the close on late (docs/kubernetes.md). Gunicorn's 2 s
        # lost an approval in the e2e. An idle connection holds no thread, only a socket.
        "keepalive": 120,
        # Gunicorn's most (default 4094): a request line up to 8 KiB reaches the app, which
        # answers a too-long id with a JSON 4xx; a longer one gets gunicorn's own HTML 414
        # (README).
        "limit_request_line": 8190,
        # Gunicorn 25+ opens a control socket at one fixed path per user; three services would
        # collide.
        "control_socket_disable": True,
        # skaffold dev: pick up synced modules.
        "reload": os.environ.get("GUNICORN_RELOAD") == "true",
    }
    return shared | overrides


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
