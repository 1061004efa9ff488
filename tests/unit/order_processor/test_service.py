"""OrderService against daprd's torn workflow-state reads (dapr/dapr#10242)."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import WorkflowStatus

from contracts.orders import ApprovalDecision, OrderRequest
from order_processor.service import OrderService, dapr_workflow_client
from tests.unit.fakes import FakeRpcError, FakeWorkflowClient, FakeWorkflowState

TORN = FakeRpcError(
    grpc.StatusCode.UNKNOWN,
    "workflow 'abc': inbox key 'inbox-000000' declared in metadata (inboxLength=1) but missing "
    "from state store (transient store read failure or partial save?)",
)


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


def service(client: FakeWorkflowClient) -> OrderService:
    return OrderService(
        approval_timeout_seconds=60,
        client_factory=lambda: client,
        torn_read_retry_delays_s=(0, 0, 0),
    )


def running(client: FakeWorkflowClient, order_id: str, step: str) -> None:
    client.instances[order_id] = FakeWorkflowState(
        order_id, WorkflowStatus.RUNNING, '{"item": "cars", "quantity": 1}', None, step
    )


def test_a_torn_status_read_is_read_again() -> None:
    client = TornReads(torn=2)
    running(client, "abc", "verifying_inventory")

    status = service(client).status("abc")

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


def test_reads_that_stay_torn_give_up_after_the_last_pause() -> None:
    client = TornReads(torn=10)
    running(client, "abc", "verifying_inventory")

    with pytest.raises(grpc.RpcError):
        service(client).status("abc")

    assert client.reads == 4  # three pauses, four reads


@pytest.mark.parametrize(
    "error",
    [
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),
        FakeRpcError(grpc.StatusCode.UNKNOWN, "workflow 'abc' metadata history length exceeds"),
    ],
)
def test_other_read_errors_are_not_retried(error: FakeRpcError) -> None:
    client = TornReads(torn=1, error=error)
    running(client, "abc", "verifying_inventory")

    with pytest.raises(grpc.RpcError):
        service(client).status("abc")

    assert client.reads == 1


def test_the_sdk_does_not_log_a_retried_torn_read_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dapr_workflow_client().close()  # installs the filter; the channel never connects
    sdk = logging.getLogger("DaprWorkflowClient")

    with caplog.at_level(logging.INFO):
        sdk.error(f"Unhandled RPC error while fetching workflow state: {TORN.details()}")
        sdk.error("Unhandled RPC error while fetching workflow state: UNAVAILABLE")

    assert [record.getMessage() for record in caplog.records] == [
        "Unhandled RPC error while fetching workflow state: UNAVAILABLE"
    ]
