from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.inventory import InventoryItem, Reservation, ReservationRequest
from contracts.orders import ApprovalDecision, OrderRequest, OrderResult
from contracts.payments import Payment, PaymentRequest


def test_item_names_are_lowercased_and_trimmed() -> None:
    assert OrderRequest(item=" Cars ", quantity=1).item == "cars"


@pytest.mark.parametrize(
    "data",
    [
        {"item": "cars", "quantity": 0},
        {"item": "cars", "quantity": 10_001},
        {"item": "cars", "quantity": True},
        {"item": "cars", "quantity": "2"},
        {"item": "cars", "quantity": 2.0},
        {"item": "", "quantity": 1},
        {"item": "a" * 65, "quantity": 1},
        {"item": "car s", "quantity": 1},
        {"item": "cars", "quantity": 1, "unit_price": 1},
    ],
)
def test_order_request_rejects(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderRequest.model_validate(data)


def test_limits_are_inclusive_where_documented() -> None:
    assert OrderRequest(item="a" * 64, quantity=10_000).quantity == 10_000
    assert InventoryItem(name="cars", unit_price=0, quantity=0).quantity == 0


def test_models_are_immutable() -> None:
    request = ReservationRequest(order_id="o-1", item="cars", quantity=1)
    with pytest.raises(ValidationError):
        request.quantity = 2  # type: ignore[misc]


def test_approval_decision_is_a_strict_bool() -> None:
    assert ApprovalDecision.model_validate({"approved": False}).approved is False
    with pytest.raises(ValidationError):
        ApprovalDecision.model_validate({"approved": "false"})


def test_payment_defaults_and_round_trip() -> None:
    request = PaymentRequest(order_id="o-1", item="cars", quantity=1, amount=5000)
    payment = Payment(**request.model_dump(), status="approved")

    assert payment.refunded is False
    assert Payment.model_validate_json(payment.model_dump_json()) == payment
    with pytest.raises(ValidationError):
        Payment(**request.model_dump(), status="pending")


def test_order_result_survives_a_json_round_trip() -> None:
    result = OrderResult(processed=False, reason="approval_timeout", total=55_000)

    assert OrderResult.model_validate_json(result.model_dump_json()) == result


def test_order_result_reason_is_one_of_the_documented_ones() -> None:
    with pytest.raises(ValidationError):
        OrderResult.model_validate({"processed": False, "reason": "gremlins"})


def test_stock_never_validates_negative() -> None:
    with pytest.raises(ValidationError):
        InventoryItem(name="cars", unit_price=1, quantity=0, reserved=-1)
    with pytest.raises(ValidationError):
        InventoryItem(name="cars", unit_price=1, quantity=-1)


RESERVED = {
    "order_id": "o-1",
    "item": "cars",
    "quantity": 1,
    "unit_price": 5000,
    "state": "reserved",
    "remaining": 9,
}
TOO_FEW = {**RESERVED, "state": "refused", "refusal": "insufficient_inventory", "remaining": 0}
UNKNOWN = {**TOO_FEW, "refusal": "unknown_item", "unit_price": None}


@pytest.mark.parametrize(
    ("valid", "changes"),
    [
        (RESERVED, {"state": "pending"}),
        (RESERVED, {"remaining": -1}),
        (RESERVED, {"quantity": 0}),
        (RESERVED, {"unit_price": None}),
        (RESERVED, {"refusal": "insufficient_inventory"}),
        (RESERVED, {"refusal": "sold_out"}),
        (TOO_FEW, {"refusal": None}),
        (TOO_FEW, {"unit_price": None}),
        (UNKNOWN, {"unit_price": 5000}),
        (UNKNOWN, {"remaining": 3}),
        (UNKNOWN, {"state": "released"}),
    ],
)
def test_reservation_rejects(valid: dict[str, object], changes: dict[str, object]) -> None:
    Reservation.model_validate(valid)
    with pytest.raises(ValidationError):
        Reservation.model_validate({**valid, **changes})


def test_stored_reservations_read_as_not_refused() -> None:
    """Records written before refusals existed carry no ``refusal``."""
    reservation = Reservation.model_validate(RESERVED)

    assert reservation.refusal is None
    assert Reservation.model_validate_json(reservation.model_dump_json()) == reservation
