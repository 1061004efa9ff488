"""servicekit.workers: the shared gunicorn settings, and how a worker takes SIGINT and SIGQUIT."""

from __future__ import annotations

import os
import signal
from types import FrameType, SimpleNamespace

import pytest

from servicekit import tracing, workers
from servicekit.workers import stop_gracefully_on_quit


class FakeWorker:
    """Gunicorn's SIGTERM handler flags the worker and wakes its loop; this one only counts."""

    def __init__(self) -> None:
        self.exits: list[int] = []

    def handle_exit(self, signum: int, frame: FrameType | None) -> None:
        self.exits.append(signum)

    def handle_quit(self, signum: int, frame: FrameType | None) -> None:
        raise AssertionError("the quick-exit handler must never run")


@pytest.mark.usefixtures("restore_signals")
def test_sigint_and_sigquit_stop_the_worker_as_sigterm_does() -> None:
    worker = FakeWorker()
    stop_gracefully_on_quit(worker)

    # What `dapr stop -f` does to the process group, then what gunicorn's master adds.
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGQUIT)

    assert worker.exits == [signal.SIGINT, signal.SIGQUIT]


def test_worker_exit_sends_spans_only_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    flushes: list[None] = []
    monkeypatch.setattr(tracing, "flush", lambda: flushes.append(None))

    # The master's call, for a worker it reaped.
    workers.worker_exit(None, SimpleNamespace(pid=os.getpid() + 1))
    assert flushes == []
    # The worker's own call.
    workers.worker_exit(None, SimpleNamespace(pid=os.getpid()))
    assert flushes == [None]


def test_gunicorn_settings_read_the_environment_and_a_service_overrides_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_PORT", "9000")
    monkeypatch.setenv("GUNICORN_THREADS", "3")
    monkeypatch.delenv("GUNICORN_RELOAD", raising=False)

    shared = workers.gunicorn_settings("payment:create_app()", default_port=8082)
    own = workers.gunicorn_settings("x:create_app()", default_port=8080, graceful_timeout=30)

    assert shared["bind"] == "0.0.0.0:9000"
    assert (shared["threads"], shared["reload"]) == (3, False)
    assert shared["wsgi_app"] == "payment:create_app()"
    assert (shared["graceful_timeout"], own["graceful_timeout"]) == (20, 30)
