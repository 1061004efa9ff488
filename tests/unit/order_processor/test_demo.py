from __future__ import annotations

import threading
import time

import httpx
import pytest
from flask import Flask

import order_processor
from order_processor import demo, extension
from order_processor.clients import InventoryClient
from order_processor.service import OrderService
from order_processor.settings import Settings
from servicekit.invoke import DaprInvoker
from tests.unit.fakes import DaprMesh, FakeWorkflowClient
from tests.unit.order_processor.conftest import FakeRuntime

SEED_OUTPUT = [
    "*** Welcome to the Dapr Workflow console app sample!",
    "*** Using this app, you can place orders that start workflows.",
    "item: InventoryItem(item_name=Paperclip, per_item_cost=5, quantity=100)",
    "item: InventoryItem(item_name=Cars, per_item_cost=5000, quantity=10)",
    "item: InventoryItem(item_name=Computers, per_item_cost=500, quantity=100)",
    "==========Begin the purchase of item:==========",
    "Starting order workflow, purchasing 1 of cars",
    "Workflow completed! Result: WorkflowStatus.COMPLETED",
]


def orders(workflow_client: FakeWorkflowClient) -> OrderService:
    return OrderService(approval_timeout_seconds=60, client_factory=lambda: workflow_client)


def test_demo_restocks_orders_one_car_and_prints_like_the_seed(
    invoker: DaprInvoker,
    inventory_app: Flask,
    workflow_client: FakeWorkflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    demo.run_demo(
        orders(workflow_client),
        InventoryClient(invoker),
        timeout_seconds=30,
        stop=threading.Event(),
    )

    assert capsys.readouterr().out.splitlines() == SEED_OUTPUT
    assert [s[0] for s in workflow_client.scheduled] == ["order_processing_workflow"]
    stock = inventory_app.test_client().get("/inventory").get_json()["items"]
    assert [(i["name"], i["quantity"]) for i in stock] == [
        ("cars", 10),
        ("computers", 100),
        ("paperclip", 100),
    ]


def unreachable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"errorCode": "ERR_DIRECT_INVOKE"})


def test_waiting_for_inventory_stops_at_the_deadline(invoker: DaprInvoker, mesh: DaprMesh) -> None:
    mesh.overrides["inventory"] = unreachable

    with pytest.raises(TimeoutError):
        demo.wait_for_inventory(
            InventoryClient(invoker), deadline=time.monotonic(), stop=threading.Event()
        )
    assert [r.url.path for r in mesh.requests] == ["/v1.0/invoke/inventory/method/healthz"]


def test_waiting_for_inventory_ends_on_shutdown(invoker: DaprInvoker, mesh: DaprMesh) -> None:
    mesh.overrides["inventory"] = unreachable
    stop = threading.Event()
    stop.set()

    with pytest.raises(InterruptedError):
        demo.wait_for_inventory(InventoryClient(invoker), deadline=time.monotonic() + 60, stop=stop)


def test_demo_runs_after_the_worker_starts_only_when_asked(
    invoker: DaprInvoker,
    inventory_app: Flask,
    workflow_client: FakeWorkflowClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[threading.Thread] = []
    original = demo.start_demo

    def recording_start_demo(*args: object, **kwargs: object) -> threading.Thread:
        thread = original(*args, **kwargs)  # type: ignore[arg-type]
        started.append(thread)
        return thread

    for run_demo in (False, True):
        app = order_processor.create_app(
            Settings(run_demo=run_demo),
            invoker=invoker,
            workflow_client_factory=lambda: workflow_client,
            runtime_factory=FakeRuntime,
        )
        monkeypatch.setattr(extension, "start_demo", recording_start_demo)
        extension.start(app)

    assert len(started) == 1
    started[0].join(timeout=30)
    assert capsys.readouterr().out.splitlines()[-1] == SEED_OUTPUT[-1]


def test_a_failed_demo_says_so_and_leaves_the_server_alone(
    invoker: DaprInvoker,
    mesh: DaprMesh,
    workflow_client: FakeWorkflowClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mesh.overrides["inventory"] = unreachable

    finished = threading.Event()
    thread = demo.start_demo(
        orders(workflow_client),
        InventoryClient(invoker),
        timeout_seconds=0,
        stop=threading.Event(),
        finished=finished,
    )
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert finished.is_set()
    assert "Demo failed: inventory did not become reachable" in capsys.readouterr().out
    assert workflow_client.scheduled == []


def test_with_the_demo_the_app_is_ready_only_once_the_demo_is_done(
    invoker: DaprInvoker,
    mesh: DaprMesh,
    workflow_client: FakeWorkflowClient,
) -> None:
    mesh.overrides["inventory"] = unreachable  # holds the demo in its wait for inventory
    app = order_processor.create_app(
        Settings(run_demo=True, demo_timeout_seconds=600),
        invoker=invoker,
        workflow_client_factory=lambda: workflow_client,
        runtime_factory=FakeRuntime,
    )
    processor = app.extensions[extension.KEY]
    probe = app.test_client()

    extension.start(app)
    assert processor.worker.is_ready()
    assert probe.get("/readyz").status_code == 503

    processor.stopping.set()  # ends the demo's wait
    assert processor.demo_finished.wait(timeout=30)
    assert probe.get("/readyz").status_code == 200
