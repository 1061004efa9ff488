from __future__ import annotations

import io
import os
import runpy
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from flask import Flask

from order_processor import extension, names, runtime
from order_processor.activities import OrderActivities
from order_processor.runtime import WorkflowWorker
from order_processor.workflow import order_processing_workflow
from tests.unit.fakes import FakeRpcError, FakeWorkflowClient
from tests.unit.order_processor.conftest import FakeRuntime

GUNICORN_CONF = Path(__file__).parents[3] / "services" / "order-processor" / "gunicorn.conf.py"


# The seed's names, and the compensations': every order's history records them.
REGISTERED_NAMES = [
    "notify_activity",
    "verify_inventory_activity",
    "request_approval_activity",
    "process_payment_activity",
    "update_inventory_activity",
    "release_inventory_activity",
    "refund_payment_activity",
]


def order_activities() -> OrderActivities:
    return OrderActivities(inventory=None, payment=None)  # type: ignore[arg-type]


def test_worker_is_ready_only_once_started_and_connected() -> None:
    fake = FakeRuntime(ready=True)
    worker = WorkflowWorker(order_activities(), lambda: fake)

    assert worker.is_ready() is False
    worker.start()
    assert worker.is_ready() is True
    fake.ready = False  # stream dropped
    assert worker.is_ready() is False


def test_worker_registers_every_step_under_its_persisted_name() -> None:
    fake = FakeRuntime()
    activities = order_activities()

    WorkflowWorker(activities, lambda: fake).start()

    assert fake.workflows == {"order_processing_workflow": order_processing_workflow}
    assert list(fake.activities) == REGISTERED_NAMES
    # The activities object's own bound methods: no module-level state to wire.
    assert all(fn.__self__ is activities for fn in fake.activities.values())
    assert fake.activities["verify_inventory_activity"] == activities.verify_inventory


def test_the_sdk_registers_bound_methods_under_the_given_names() -> None:
    """The real runtime: it records the name on each function, which is what a function-typed
    ``call_activity`` would schedule; the workflow calls by the name itself."""
    runtime.register(runtime.workflow_runtime(), order_activities())

    assert order_processing_workflow.__dict__["_dapr_alternate_name"] == names.WORKFLOW
    registered = runtime.registry(order_activities())
    assert [fn.__dict__["_dapr_alternate_name"] for fn in registered.values()] == REGISTERED_NAMES


def test_worker_start_failure_is_raised_and_leaves_it_unready() -> None:
    worker = WorkflowWorker(order_activities(), lambda: FakeRuntime(fail_start=True))

    with pytest.raises(RuntimeError, match="not ready"):
        worker.start()
    assert worker.is_ready() is False


def test_worker_stop_shuts_the_runtime_down_once() -> None:
    fake = FakeRuntime()
    worker = WorkflowWorker(order_activities(), lambda: fake)
    worker.start()

    worker.stop()
    worker.stop()

    assert fake.stopped == 1
    assert worker.is_ready() is False


def test_readyz_follows_the_workflow_worker(app: Flask, fake_runtime: FakeRuntime) -> None:
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503

    extension.start(app)

    assert fake_runtime.started == 1
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_needs_the_workflow_engine_to_answer(
    app: Flask, workflow_client: FakeWorkflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a sidecar restart the client's channel sits in gRPC's reconnect backoff."""
    extension.start(app)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    def unavailable(instance_id: str, *, fetch_payloads: bool = True) -> None:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")

    monkeypatch.setattr(workflow_client, "get_workflow_state", unavailable)

    assert client.get("/readyz").status_code == 503


def test_app_creation_connects_nothing(
    app: Flask, fake_runtime: FakeRuntime, workflow_client: FakeWorkflowClient
) -> None:
    assert fake_runtime.started == 0
    assert app.extensions[extension.KEY].engine._client is None


def test_stop_closes_what_start_opened(
    app: Flask, fake_runtime: FakeRuntime, workflow_client: FakeWorkflowClient
) -> None:
    extension.start(app)
    app.test_client().get("/orders/any")  # opens the workflow client

    extension.stop(app)

    assert fake_runtime.stopped == 1
    assert workflow_client.closed is True


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("APP_PORT", "9090")
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_runs_one_threaded_worker_on_app_port(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_gunicorn_conf(monkeypatch)

    assert conf["bind"] == "0.0.0.0:9090"
    assert conf["workers"] == 1
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] >= 2
    assert conf["preload_app"] is False
    assert conf["wsgi_app"] == "order_processor:create_app()"
    assert conf["control_socket_disable"] is True


@pytest.mark.usefixtures("restore_signals")
def test_gunicorn_hooks_start_and_stop_the_runtime(
    monkeypatch: pytest.MonkeyPatch, app: Flask, fake_runtime: FakeRuntime
) -> None:
    conf = load_gunicorn_conf(monkeypatch)
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    worker = SimpleNamespace(
        wsgi=app, pid=os.getpid(), handle_exit=lambda *_: None, notify=lambda: None, alive=True
    )

    conf["post_worker_init"](worker)
    assert fake_runtime.started == 1
    assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGQUIT) == worker.handle_exit

    # The master's call, for a worker it reaped: not this process, nothing to stop.
    conf["worker_exit"](None, SimpleNamespace(wsgi=app, pid=os.getpid() + 1))
    assert (fake_runtime.stopped, exits) == (0, [])
    # The worker's own call: stop, then end the process whatever threads linger.
    conf["worker_exit"](None, worker)
    assert (fake_runtime.stopped, exits) == (1, [0])


def test_worker_exits_even_when_stdout_is_a_closed_pipe(
    monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    """`dapr stop` ends the CLI first: a failed flush must not leave the worker alive."""

    class ClosedPipe(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    conf = load_gunicorn_conf(monkeypatch)
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())

    conf["worker_exit"](None, SimpleNamespace(wsgi=app, pid=os.getpid()))

    assert exits == [0]


@pytest.mark.usefixtures("restore_signals")
@pytest.mark.parametrize("service", ["inventory", "payment"])
def test_other_services_stop_gracefully_on_a_quit_signal(service: str) -> None:
    conf = runpy.run_path(str(GUNICORN_CONF.parents[1] / service / "gunicorn.conf.py"))
    worker = SimpleNamespace(handle_exit=lambda *_: None)

    conf["post_worker_init"](worker)

    assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGQUIT) == worker.handle_exit


@pytest.mark.parametrize("service", ["inventory", "payment"])
def test_other_services_bind_their_app_port(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    monkeypatch.setenv("APP_PORT", "9191")
    conf = runpy.run_path(str(GUNICORN_CONF.parents[1] / service / "gunicorn.conf.py"))

    assert conf["bind"] == "0.0.0.0:9191"
    assert conf["wsgi_app"] == f"{service}:create_app()"
    assert conf["control_socket_disable"] is True


@pytest.mark.parametrize("service", ["order-processor", "inventory", "payment"])
def test_long_ids_reach_the_app_and_its_json_errors(service: str) -> None:
    """Gunicorn's default (4094) answered a 5 000-character id with its own plain-text 414."""
    conf = runpy.run_path(str(GUNICORN_CONF.parents[1] / service / "gunicorn.conf.py"))

    assert conf["limit_request_line"] == 8190
