"""The seed's console demo, a client of order-processor run before the first request."""

from __future__ import annotations

import time

import httpx
import pytest
from dapr.ext.workflow import WorkflowStatus
from flask import Flask

import order_processor
from order_processor import demo, extension
from order_processor.clients import InventoryClient
from order_processor.engine import Engine
from order_processor.following.reads import OrderReader
from order_processor.service import OrderService
from servicekit.invoke import DaprInvoker
from tests.unit.fakes import DaprMesh, FakeWorkflowClient
from tests.unit.order_processor.conftest import FakeRuntime, app_settings

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


class CompletingWorkflowClient(FakeWorkflowClient):
    """Each order runs for one status read, then completes."""

    def get_workflow_state(self, instance_id: str, *, fetch_payloads: bool = True) -> object:
        state = self.instances.get(instance_id)
        if state is not None and state.runtime_status == WorkflowStatus.RUNNING:
            state.runtime_status = WorkflowStatus.COMPLETED
        elif state is not None and state.runtime_status == WorkflowStatus.PENDING:
            state.runtime_status = WorkflowStatus.RUNNING
        return state


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "POLL_INTERVAL_SECONDS", 0)


def orders(client: FakeWorkflowClient) -> tuple[OrderService, OrderReader]:
    engine = Engine(lambda: client)
    reader = OrderReader(engine)
    return OrderService(engine, reader, approval_timeout_seconds=60), reader


def test_demo_restocks_orders_one_car_and_prints_like_the_seed(
    invoker: DaprInvoker, inventory_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    client = CompletingWorkflowClient()
    beats: list[None] = []

    demo.run_demo(
        *orders(client),
        InventoryClient(invoker),
        demo.Clock(30, heartbeat=lambda: beats.append(None)),
    )

    assert capsys.readouterr().out.splitlines() == SEED_OUTPUT
    assert [s[0] for s in client.scheduled] == ["order_processing_workflow"]
    assert beats  # it waited for the order, telling gunicorn's master it is alive
    stock = inventory_app.test_client().get("/inventory").get_json()["items"]
    assert [(i["name"], i["quantity"]) for i in stock] == [
        ("cars", 10),
        ("computers", 100),
        ("paperclip", 100),
    ]


def unreachable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"errorCode": "ERR_DIRECT_INVOKE"})


def test_the_demo_waits_for_inventory_until_its_deadline(
    invoker: DaprInvoker, mesh: DaprMesh
) -> None:
    mesh.overrides["inventory"] = unreachable

    with pytest.raises(TimeoutError, match="inventory becoming reachable"):
        demo.run_demo(*orders(FakeWorkflowClient()), InventoryClient(invoker), demo.Clock(0))
    assert [r.url.path for r in mesh.requests] == [
        "/v1.0/invoke/inventory/method/inventory/paperclip"
    ]


def test_the_demo_ends_on_shutdown(invoker: DaprInvoker, mesh: DaprMesh) -> None:
    mesh.overrides["inventory"] = unreachable

    with pytest.raises(InterruptedError):
        demo.run_demo(
            *orders(FakeWorkflowClient()),
            InventoryClient(invoker),
            demo.Clock(60, stopping=lambda: True),
        )


def app_with(invoker: DaprInvoker, client: FakeWorkflowClient, *, run_demo: bool) -> Flask:
    return order_processor.create_app(
        app_settings(run_demo=run_demo),
        invoker=invoker,
        workflow_client_factory=lambda: client,
        runtime_factory=FakeRuntime,
    )


@pytest.mark.usefixtures("inventory_app")
def test_the_demo_runs_only_when_asked(
    invoker: DaprInvoker, capsys: pytest.CaptureFixture[str]
) -> None:
    for run_demo in (False, True):
        app = app_with(invoker, CompletingWorkflowClient(), run_demo=run_demo)
        demo.run_if_asked(app, demo.Clock(30))

    assert capsys.readouterr().out.splitlines() == SEED_OUTPUT


def test_a_failed_demo_says_so_and_leaves_the_server_alone(
    invoker: DaprInvoker, mesh: DaprMesh, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh.overrides["inventory"] = unreachable
    client = FakeWorkflowClient()
    app = app_with(invoker, client, run_demo=True)
    extension.start(app)

    started = time.monotonic()
    demo.run_if_asked(app, demo.Clock(0))

    assert time.monotonic() - started < 10
    assert "Demo failed: inventory becoming reachable" in capsys.readouterr().out
    assert client.scheduled == []
    assert app.test_client().get("/readyz").status_code == 200


def test_readiness_waits_for_the_demo_and_only_when_it_is_on(
    invoker: DaprInvoker, mesh: DaprMesh
) -> None:
    mesh.overrides["inventory"] = unreachable  # the demo fails at once (Clock(0) below)
    with_demo = app_with(invoker, FakeWorkflowClient(), run_demo=True)
    without_demo = app_with(invoker, FakeWorkflowClient(), run_demo=False)
    for app in (with_demo, without_demo):
        extension.start(app)

    demo.start_if_asked(without_demo, demo.Clock(0))
    waiting = with_demo.test_client().get("/readyz").status_code
    demo.run_if_asked(with_demo, demo.Clock(0))

    assert waiting == 503
    assert with_demo.test_client().get("/readyz").status_code == 200
    assert without_demo.test_client().get("/readyz").status_code == 200
