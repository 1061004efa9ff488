"""Activities against the real inventory and payment apps, reached through (fake) Dapr
service invocation, so clients, routes and stores are exercised together."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from dapr.ext.workflow._durabletask.task import NonRetryableError
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from contracts.orders import ApprovalRequest, InventoryRequest, Notification, RefundRequest
from contracts.payments import PaymentRequest
from order_processor import activities, workflow
from order_processor.clients import InventoryClient, PaymentClient
from servicekit import tracing
from servicekit.invoke import DaprInvoker, TransientError
from servicekit.logs import LOG_FORMAT, LogContextFilter
from tests.unit.fakes import DaprMesh

ORDER_ID = "order-1"
CTX: Any = SimpleNamespace(workflow_id=ORDER_ID)


@pytest.fixture
def clients(invoker: DaprInvoker, inventory_app: Flask) -> activities.ActivityClients:
    inventory_app.test_client().put("/inventory/cars", json={"quantity": 10, "unit_price": 5000})
    wired = activities.ActivityClients(InventoryClient(invoker), PaymentClient(invoker))
    activities.configure(wired)
    return wired


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """The console as the seed's README check sees it: our format, our context."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(LogContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(console: io.StringIO) -> list[str]:
    return console.getvalue().splitlines()


def cars(quantity: int = 1) -> InventoryRequest:
    return InventoryRequest(order_id=ORDER_ID, item="cars", quantity=quantity)


def charge(amount: int = 5000) -> PaymentRequest:
    return PaymentRequest(order_id=ORDER_ID, item="cars", quantity=1, amount=amount)


def test_activities_are_registered_under_the_seed_names() -> None:
    names = [fn.__name__ for fn in activities.ACTIVITIES]

    assert names == [
        "notify_activity",
        "verify_inventory_activity",
        "request_approval_activity",
        "process_payment_activity",
        "update_inventory_activity",
        "refund_payment_activity",
    ]
    for fn in (*activities.ACTIVITIES, workflow.order_processing_workflow):
        assert fn.__dict__["_dapr_alternate_name"] == fn.__name__


def test_seed_order_logs_the_seed_lines(
    clients: activities.ActivityClients, console: io.StringIO
) -> None:
    check = activities.verify_inventory_activity(CTX, cars())
    payment = activities.process_payment_activity(CTX, charge())
    update = activities.update_inventory_activity(CTX, cars())
    activities.notify_activity(
        CTX, Notification(order_id=ORDER_ID, message=f"Order {ORDER_ID} has completed!")
    )

    assert (check.found, check.in_stock, check.unit_price) == (True, 10, 5000)
    assert payment.status == "approved"
    assert (update.taken, update.remaining) == (True, 9)
    context = f" [order_id={ORDER_ID} trace_id=-]"
    expected = [
        f"INFO:VerifyInventoryActivity:Verifying inventory for order {ORDER_ID} of 1 cars",
        "INFO:VerifyInventoryActivity:There are 10 Cars available for purchase",
        f"INFO:ProcessPaymentActivity:Processing payment: {ORDER_ID} for 1 cars at 5000 USD",
        f"INFO:ProcessPaymentActivity:Payment for request ID {ORDER_ID} processed successfully",
        f"INFO:UpdateInventoryActivity:Checking inventory for order {ORDER_ID} for 1 cars",
        "INFO:UpdateInventoryActivity:There are now 9 cars left in stock",
        f"INFO:NotifyActivity:Order {ORDER_ID} has completed!",
    ]
    activity_lines = [line for line in lines(console) if line.split(":")[1].endswith("Activity")]
    assert activity_lines == [line + context for line in expected]


def test_update_inventory_twice_takes_stock_once(
    clients: activities.ActivityClients, inventory_app: Flask
) -> None:
    first = activities.update_inventory_activity(CTX, cars(2))
    repeat = activities.update_inventory_activity(CTX, cars(2))

    assert first == repeat
    assert inventory_app.test_client().get("/inventory/cars").get_json()["quantity"] == 8


def test_update_inventory_without_enough_stock_reports_not_taken(
    clients: activities.ActivityClients,
) -> None:
    update = activities.update_inventory_activity(CTX, cars(11))

    assert update.taken is False
    assert update.remaining is None


def test_verify_unknown_item_is_not_found(clients: activities.ActivityClients) -> None:
    check = activities.verify_inventory_activity(
        CTX, InventoryRequest(order_id=ORDER_ID, item="unicorns", quantity=1)
    )

    assert check.found is False
    assert check.can_supply(1) is False


def test_process_payment_twice_charges_once(
    clients: activities.ActivityClients, mesh: DaprMesh
) -> None:
    first = activities.process_payment_activity(CTX, charge(2_000_000))
    repeat = activities.process_payment_activity(CTX, charge(2_000_000))

    assert first.status == "declined"
    assert repeat == first


def test_refund_is_safe_to_repeat(clients: activities.ActivityClients) -> None:
    activities.process_payment_activity(CTX, charge())

    first = activities.refund_payment_activity(CTX, RefundRequest(order_id=ORDER_ID))
    repeat = activities.refund_payment_activity(CTX, RefundRequest(order_id=ORDER_ID))

    assert first.refunded is True
    assert repeat == first


def test_request_approval_logs_the_request(
    clients: activities.ActivityClients, console: io.StringIO
) -> None:
    request = ApprovalRequest(order_id=ORDER_ID, item="cars", quantity=11, total=55_000)

    assert activities.request_approval_activity(CTX, request) == request
    assert any(
        line.startswith("INFO:RequestApprovalActivity:Requesting approval for payment of 55000 USD")
        for line in lines(console)
    )


def test_calls_go_through_the_local_sidecar_only(
    clients: activities.ActivityClients, mesh: DaprMesh
) -> None:
    activities.verify_inventory_activity(CTX, cars())
    activities.process_payment_activity(CTX, charge())

    urls = [str(r.url) for r in mesh.requests]
    assert urls == [
        "http://127.0.0.1:3500/v1.0/invoke/inventory/method/inventory/cars",
        "http://127.0.0.1:3500/v1.0/invoke/payment/method/payments",
    ]


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": "contention", "message": "busy"})


def _connection_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _unexpected_client_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"error": "bad", "message": "no"})


def _garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>")


@pytest.mark.parametrize("respond", [_server_error, _connection_refused])
def test_transient_failures_are_raised_for_the_retry_policy(
    clients: activities.ActivityClients, mesh: DaprMesh, respond: Any
) -> None:
    mesh.overrides["inventory"] = respond

    with pytest.raises(TransientError):
        activities.verify_inventory_activity(CTX, cars())


@pytest.mark.parametrize("respond", [_unexpected_client_error, _garbage])
def test_other_failures_are_not_retried(
    clients: activities.ActivityClients, mesh: DaprMesh, respond: Any
) -> None:
    mesh.overrides["payment"] = respond

    with pytest.raises(NonRetryableError):
        activities.process_payment_activity(CTX, charge())


def test_payment_conflict_is_not_retried(clients: activities.ActivityClients) -> None:
    activities.process_payment_activity(CTX, charge(5000))

    with pytest.raises(NonRetryableError, match="409"):
        activities.process_payment_activity(CTX, charge(6000))


def test_activities_need_their_clients() -> None:
    activities.configure(None)

    with pytest.raises(NonRetryableError, match="configure"):
        activities.verify_inventory_activity(CTX, cars())


def test_the_called_service_logs_the_order_id_and_trace_too(
    clients: activities.ActivityClients, console: io.StringIO
) -> None:
    # The SDK runs each activity in a span of the order's trace.
    with tracing.tracer().start_as_current_span("activity: verify_inventory_activity") as span:
        activities.verify_inventory_activity(CTX, cars())

    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    access = [line for line in lines(console) if "GET /inventory/cars 200" in line]
    assert access == [
        f"INFO:servicekit.web:GET /inventory/cars 200 [order_id={ORDER_ID} trace_id={trace_id}]"
    ]
    assert isinstance(span, ReadableSpan)
    assert span.attributes is not None
    assert span.attributes[tracing.ORDER_ID_ATTRIBUTE] == ORDER_ID
