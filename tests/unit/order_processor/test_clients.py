"""order_processor.clients: what inventory's and payment's answers become for the workflow.
Business outcomes are values or ReservationSettledError; a missing record on a path the order
itself created, an error answer or an unreadable body is a ServiceError, never a guess. The
clients talk to the real apps through (fake) Dapr service invocation."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask

from contracts.inventory import ReservationRequest, Restock
from contracts.payments import PaymentRequest
from order_processor.clients import InventoryClient, PaymentClient, ReservationSettledError
from servicekit.invoke import DaprInvoker, ServiceError
from tests.unit.fakes import DaprMesh, answers_garbage

CARS = ReservationRequest(order_id="order-1", item="cars", quantity=3)


@pytest.fixture
def inventory(invoker: DaprInvoker, inventory_app: Flask) -> InventoryClient:
    client = InventoryClient(invoker)
    client.restock("cars", Restock(quantity=10, unit_price=5000))
    return client


@pytest.fixture
def payment(invoker: DaprInvoker) -> PaymentClient:
    return PaymentClient(invoker)


def test_an_item_is_looked_up_by_name_and_an_unknown_one_is_none(
    inventory: InventoryClient, mesh: DaprMesh
) -> None:
    found = inventory.get_item("cars")

    assert found is not None
    assert (found.name, found.quantity, found.unit_price) == ("cars", 10, 5000)
    assert inventory.get_item("unicorns") is None
    # Looked up through the list, which answers 200 for an unknown item too, so Dapr's
    # circuit breaker never counts a lookup as a failure.
    assert all(r.status_code == 200 for r in mesh.responses)


def test_a_refused_reservation_is_a_value_not_an_error(inventory: InventoryClient) -> None:
    refused = inventory.reserve(CARS.model_copy(update={"quantity": 11}))

    assert (refused.state, refused.refusal) == ("refused", "insufficient_inventory")


@pytest.mark.parametrize(
    ("first", "then"),
    [("commit", "release"), ("release", "commit")],
    ids=["release-after-commit", "commit-after-release"],
)
def test_settling_a_reservation_the_other_way_raises_reservation_settled(
    inventory: InventoryClient, first: str, then: str
) -> None:
    inventory.reserve(CARS)
    getattr(inventory, first)("order-1")

    with pytest.raises(ReservationSettledError):
        getattr(inventory, then)("order-1")


def test_settling_a_reservation_nobody_made_is_a_fault(inventory: InventoryClient) -> None:
    # The order's own verification made its reservation: a 404 means something is wrong.
    with pytest.raises(ServiceError, match="404") as raised:
        inventory.commit("never-reserved")

    assert not isinstance(raised.value, ReservationSettledError)


def test_a_payment_is_charged_looked_up_and_refunded(payment: PaymentClient) -> None:
    charge = PaymentRequest(order_id="order-1", item="cars", quantity=1, amount=5000)

    assert payment.get("order-1") is None
    charged = payment.charge(charge)
    assert payment.get("order-1") == charged
    assert payment.refund("order-1").refunded is True


def test_an_unreadable_answer_is_a_service_error(
    inventory: InventoryClient, payment: PaymentClient, mesh: DaprMesh
) -> None:
    mesh.overrides["inventory"] = answers_garbage
    mesh.overrides["payment"] = answers_garbage

    with pytest.raises(ServiceError, match="unexpected response body"):
        inventory.list_items()
    with pytest.raises(ServiceError, match="unexpected response body"):
        payment.get("order-1")


def test_an_unexpected_error_answer_is_a_service_error_naming_it(
    inventory: InventoryClient, mesh: DaprMesh
) -> None:
    mesh.overrides["inventory"] = lambda request: httpx.Response(
        409, json={"error": "something_new", "message": "no"}
    )

    with pytest.raises(ServiceError, match="HTTP 409") as raised:
        inventory.commit("order-1")

    assert not isinstance(raised.value, ReservationSettledError)
