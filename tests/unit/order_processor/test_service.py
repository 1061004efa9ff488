"""Placing and deciding read a torn workflow state again (dapr/dapr#10242) wherever they read
one, as reading an order does."""

from __future__ import annotations

from typing import Any

from dapr.ext.workflow import WorkflowStatus

from contracts.orders import ApprovalDecision, OrderRequest
from order_processor.engine import Engine
from order_processor.following.reads import OrderReader
from order_processor.service import OrderService
from tests.unit.fakes import TORN_READ as TORN
from tests.unit.fakes import FakeRpcError, FakeWorkflowClient, FakeWorkflowState


class TornReads(FakeWorkflowClient):
    """Fails the next ``torn`` state reads the way daprd 1.18 does when a read races a save."""

    def __init__(self, torn: int, error: FakeRpcError = TORN) -> None:
        super().__init__()
        self.torn = torn
        self.error = error
        self.reads = 0

    def get_workflow_state(self, instance_id: str, *, fetch_payloads: bool = True) -> Any:
        self.reads += 1
        if self.torn:
            self.torn -= 1
            raise self.error
        return super().get_workflow_state(instance_id, fetch_payloads=fetch_payloads)


def reader(client: FakeWorkflowClient) -> OrderReader:
    return OrderReader(Engine(lambda: client), torn_read_retry_delays_s=(0, 0, 0))


def service(client: FakeWorkflowClient) -> OrderService:
    engine = Engine(lambda: client)
    return OrderService(
        engine,
        OrderReader(engine, torn_read_retry_delays_s=(0, 0, 0)),
        approval_timeout_seconds=60,
    )


def running(client: FakeWorkflowClient, order_id: str, step: str) -> None:
    client.instances[order_id] = FakeWorkflowState(
        order_id, WorkflowStatus.RUNNING, '{"item": "cars", "quantity": 1}', None, step
    )


def test_a_torn_status_read_is_read_again() -> None:
    client = TornReads(torn=2)
    running(client, "abc", "verifying_inventory")

    status = reader(client).status("abc")

    assert status.status == "RUNNING"
    assert client.reads == 3


def test_an_approval_after_a_torn_read_reaches_the_workflow() -> None:
    client = TornReads(torn=1)
    running(client, "abc", "awaiting_approval")

    service(client).decide_approval("abc", ApprovalDecision(approved=True))

    assert [(instance, event) for instance, event, _ in client.events] == [
        ("abc", "manager_approval")
    ]


def test_an_idempotent_repeat_survives_a_torn_read() -> None:
    client = TornReads(torn=0)
    orders = service(client)
    first = orders.place(OrderRequest(item="cars", quantity=1), idempotency_key="k-1")
    client.torn = 1

    again = orders.place(OrderRequest(item="cars", quantity=1), idempotency_key="k-1")

    assert again.order_id == first.order_id
    assert len(client.scheduled) == 1
