"""Activities against the real inventory and payment apps, reached through (fake) Dapr
service invocation, so clients, routes and stores are exercised together."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

# Not exported by dapr-ext-workflow 1.18.3, as in order_processor.activities.
from dapr.ext.workflow._durabletask.task import NonRetryableError
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from contracts.inventory import ReservationRequest
from contracts.payments import PaymentRequest
from order_processor.activities import OrderActivities
from order_processor.clients import InventoryClient, PaymentClient
from order_processor.messages import (
    ApprovalRequest,
    InventoryCheck,
    Notification,
    RefundRequest,
    ReleaseRequest,
)
from servicekit import tracing
from servicekit.invoke import DaprInvoker, TransientError
from servicekit.logs import LOG_FORMAT, LogContextFilter
from tests.unit.fakes import (
    DaprMesh,
    answers_busy,
    answers_garbage,
    answers_unauthorized,
    refuses_connection,
)

ORDER_ID = "order-1"
CTX: Any = SimpleNamespace(workflow_id=ORDER_ID)


@pytest.fixture
def activities(invoker: DaprInvoker, inventory_app: Flask) -> OrderActivities:
    inventory_app.test_client().put("/inventory/cars", json={"quantity": 10, "unit_price": 5000})
    return OrderActivities(InventoryClient(invoker), PaymentClient(invoker))


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


def cars(quantity: int = 1) -> ReservationRequest:
    return ReservationRequest(order_id=ORDER_ID, item="cars", quantity=quantity)


def charge(amount: int = 5000) -> PaymentRequest:
    return PaymentRequest(order_id=ORDER_ID, item="cars", quantity=1, amount=amount)


RELEASE = ReleaseRequest(order_id=ORDER_ID)


def cars_stock(inventory_app: Flask) -> tuple[int, int]:
    """(available, reserved) as inventory reports them."""
    item = inventory_app.test_client().get("/inventory/cars").get_json()
    return item["quantity"], item["reserved"]


def test_seed_order_logs_the_seed_lines(activities: OrderActivities, console: io.StringIO) -> None:
    check = activities.verify_inventory(CTX, cars())
    payment = activities.process_payment(CTX, charge())
    update = activities.update_inventory(CTX, cars())
    activities.notify(
        CTX, Notification(order_id=ORDER_ID, message=f"Order {ORDER_ID} has completed!")
    )

    assert (check.reserved, check.available, check.unit_price) == (True, 9, 5000)
    assert payment.status == "approved"
    assert update.committed is True
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


def test_verify_reserves_and_a_repeat_reserves_nothing_more(
    activities: OrderActivities, inventory_app: Flask
) -> None:
    first = activities.verify_inventory(CTX, cars(2))
    repeat = activities.verify_inventory(CTX, cars(2))

    assert first == repeat
    assert (first.reserved, first.available) == (True, 8)
    assert cars_stock(inventory_app) == (8, 2)


@pytest.mark.parametrize(
    ("item", "quantity", "found", "available", "said"),
    [
        ("cars", 11, True, 10, "There are 10 Cars available for purchase"),
        ("cars", 10, True, 10, "There are 10 Cars available for purchase"),
        ("unicorns", 1, False, 0, "There are no unicorns in the inventory"),
    ],
    ids=["too few", "just enough", "unknown item"],
)
def test_verify_asks_inventory_once_and_reports_what_there_was(
    activities: OrderActivities,
    inventory_app: Flask,
    mesh: DaprMesh,
    console: io.StringIO,
    *,
    item: str,
    quantity: int,
    found: bool,
    available: int,
    said: str,
) -> None:
    """One call, answered 2xx, whatever the outcome: no look-up of what there is (an unknown
    item's GET would be a 404, counted by the sidecar's circuit breaker)."""
    check = activities.verify_inventory(
        CTX, ReservationRequest(order_id=ORDER_ID, item=item, quantity=quantity)
    )

    reserved = quantity <= available
    left = available - quantity if reserved else available
    assert (check.reserved, check.available) == (reserved, left)
    assert check.unit_price == (5000 if found else None)
    assert [(r.method, r.url.path) for r in mesh.requests] == [
        ("POST", "/v1.0/invoke/inventory/method/reservations")
    ]
    assert [r.status_code for r in mesh.responses] == [200]
    verify_lines = [line.split(" [")[0] for line in lines(console) if "VerifyInventory" in line]
    assert verify_lines == [
        "INFO:VerifyInventoryActivity:Verifying inventory for order "
        f"{ORDER_ID} of {quantity} {item}",
        f"INFO:VerifyInventoryActivity:{said}",
    ]
    reservation = inventory_app.test_client().get(f"/reservations/{ORDER_ID}")
    assert reservation.status_code == (200 if reserved else 404)
    assert cars_stock(inventory_app) == ((0, 10) if reserved else (10, 0))


def test_a_refused_order_verified_again_after_a_restock_is_reserved(
    activities: OrderActivities, inventory_app: Flask
) -> None:
    """As a retried activity would: the refusal was not remembered."""
    first = activities.verify_inventory(CTX, cars(12))
    inventory_app.test_client().put("/inventory/cars", json={"quantity": 12, "unit_price": 5000})

    again = activities.verify_inventory(CTX, cars(12))

    assert (first.reserved, first.available) == (False, 10)
    assert (again.reserved, again.available) == (True, 0)
    assert cars_stock(inventory_app) == (0, 12)


def test_a_sold_out_rush_answers_only_2xx_through_the_sidecar(
    activities: OrderActivities, inventory_app: Flask, mesh: DaprMesh
) -> None:
    """Dapr's circuit breaker counts every non-2xx answer of the target app as a failure: 50
    orders for 10 cars must not trip it, or the orders in flight would fail."""

    def verify(order_id: str) -> InventoryCheck:
        ctx: Any = SimpleNamespace(workflow_id=order_id)
        request = ReservationRequest(order_id=order_id, item="cars", quantity=1)
        return activities.verify_inventory(ctx, request)

    checks = [verify(f"order-{n}") for n in range(50)]

    assert [c.reserved for c in checks] == [True] * 10 + [False] * 40
    assert [c.available for c in checks] == [*range(9, -1, -1)] + [0] * 40
    assert len(mesh.responses) == 50
    assert all(r.is_success for r in mesh.responses)
    assert cars_stock(inventory_app) == (0, 10)


def test_update_inventory_twice_commits_once(
    activities: OrderActivities, inventory_app: Flask
) -> None:
    activities.verify_inventory(CTX, cars(2))

    first = activities.update_inventory(CTX, cars(2))
    repeat = activities.update_inventory(CTX, cars(2))

    assert first == repeat
    assert first.committed is True
    assert cars_stock(inventory_app) == (8, 0)


def test_update_of_a_released_reservation_reports_not_committed(
    activities: OrderActivities, inventory_app: Flask
) -> None:
    activities.verify_inventory(CTX, cars(2))
    inventory_app.test_client().post(f"/reservations/{ORDER_ID}/release")  # out of band

    update = activities.update_inventory(CTX, cars(2))

    assert update.committed is False
    assert cars_stock(inventory_app) == (10, 0)


def test_update_without_a_reservation_is_not_retried(activities: OrderActivities) -> None:
    with pytest.raises(NonRetryableError, match="404"):
        activities.update_inventory(CTX, cars())


def test_release_gives_the_stock_back_and_is_safe_to_repeat(
    activities: OrderActivities, inventory_app: Flask, console: io.StringIO
) -> None:
    activities.verify_inventory(CTX, cars(3))

    first = activities.release_inventory(CTX, RELEASE)
    repeat = activities.release_inventory(CTX, RELEASE)

    assert first == repeat
    assert first.released is True
    assert cars_stock(inventory_app) == (10, 0)
    assert f"INFO:ReleaseInventoryActivity:Released 3 cars for order {ORDER_ID}; 10 available" in [
        line.split(" [")[0] for line in lines(console)
    ]


def test_release_of_a_committed_reservation_reports_not_released(
    activities: OrderActivities, inventory_app: Flask
) -> None:
    activities.verify_inventory(CTX, cars(3))
    activities.update_inventory(CTX, cars(3))

    release = activities.release_inventory(CTX, RELEASE)

    assert release.released is False
    assert cars_stock(inventory_app) == (7, 0)


def test_release_without_a_reservation_is_not_retried(activities: OrderActivities) -> None:
    with pytest.raises(NonRetryableError, match="404"):
        activities.release_inventory(CTX, RELEASE)


def test_process_payment_twice_charges_once(activities: OrderActivities, mesh: DaprMesh) -> None:
    first = activities.process_payment(CTX, charge(2_000_000))
    repeat = activities.process_payment(CTX, charge(2_000_000))

    assert first.status == "declined"
    assert repeat == first


def test_refund_is_safe_to_repeat(activities: OrderActivities) -> None:
    activities.process_payment(CTX, charge())

    first = activities.refund_payment(CTX, RefundRequest(order_id=ORDER_ID))
    repeat = activities.refund_payment(CTX, RefundRequest(order_id=ORDER_ID))

    assert first.refunded is True
    assert repeat == first


def test_request_approval_logs_the_request(
    activities: OrderActivities, console: io.StringIO
) -> None:
    request = ApprovalRequest(order_id=ORDER_ID, item="cars", quantity=11, total=55_000)

    assert activities.request_approval(CTX, request) == request
    assert any(
        line.startswith("INFO:RequestApprovalActivity:Requesting approval for payment of 55000 USD")
        for line in lines(console)
    )


def test_calls_go_through_the_local_sidecar_only(
    activities: OrderActivities, mesh: DaprMesh
) -> None:
    activities.verify_inventory(CTX, cars())
    activities.process_payment(CTX, charge())

    urls = [(r.method, str(r.url)) for r in mesh.requests]
    assert urls == [
        ("POST", "http://127.0.0.1:3500/v1.0/invoke/inventory/method/reservations"),
        ("POST", "http://127.0.0.1:3500/v1.0/invoke/payment/method/payments"),
    ]


@pytest.mark.parametrize(
    ("respond", "raised"),
    [
        # Transient: raised as such for the workflow's retry policy.
        (answers_busy, TransientError),
        (refuses_connection, TransientError),
        # Anything else: a retry would only repeat it.
        (answers_unauthorized, NonRetryableError),
        (answers_garbage, NonRetryableError),
    ],
)
@pytest.mark.parametrize("app_id", ["inventory", "payment"])
def test_only_transient_failures_are_retried(
    activities: OrderActivities, mesh: DaprMesh, respond: Any, raised: type[Exception], app_id: str
) -> None:
    mesh.overrides[app_id] = respond
    calling = {
        "inventory": lambda: activities.verify_inventory(CTX, cars()),
        "payment": lambda: activities.process_payment(CTX, charge()),
    }[app_id]

    with pytest.raises(raised):
        calling()


def test_payment_conflict_is_not_retried(activities: OrderActivities) -> None:
    activities.process_payment(CTX, charge(5000))

    with pytest.raises(NonRetryableError, match="409"):
        activities.process_payment(CTX, charge(6000))


def test_the_called_service_logs_the_order_id_and_trace_too(
    activities: OrderActivities, console: io.StringIO
) -> None:
    # The SDK runs each activity in a span of the order's trace.
    with tracing.tracer().start_as_current_span("activity: verify_inventory_activity") as span:
        activities.verify_inventory(CTX, cars())

    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    access = [line for line in lines(console) if "POST /reservations 200" in line]
    assert access == [
        f"INFO:servicekit.web:POST /reservations 200 [order_id={ORDER_ID} trace_id={trace_id}]"
    ]
    assert isinstance(span, ReadableSpan)
    assert span.attributes is not None
    assert span.attributes[tracing.ORDER_ID_ATTRIBUTE] == ORDER_ID
