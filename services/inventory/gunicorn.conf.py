"""Gunicorn settings for inventory; the same file serves locally and in the container."""

import os

# The hooks: a quit signal must not wedge the worker; the last spans go out on exit.
from servicekit.workers import post_worker_init, worker_exit  # noqa: F401

bind = f"0.0.0.0:{os.environ.get('APP_PORT', '8081')}"
# Each request is a short call to the sidecar; threads overlap those waits in one process.
# One process: a second doubled the memory (~90 MB a worker) and added no throughput, since
# the machine's CPU, not this app, bounds it (docs/perf.md).
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
wsgi_app = "inventory:create_app()"
graceful_timeout = 20
# Gunicorn's most (default 4094): a request line up to 8 KiB reaches the app, which answers a
# too-long id with a JSON 4xx; a longer one gets gunicorn's plain-text 414 (README).
limit_request_line = 8190
# Gunicorn 25+ opens a control socket at one fixed path per user; three services would collide.
control_socket_disable = True
reload = os.environ.get("GUNICORN_RELOAD") == "true"  # skaffold dev: pick up synced modules
