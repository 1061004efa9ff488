"""servicekit.workers: how a gunicorn worker takes SIGINT and SIGQUIT."""

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
