"""The workflow's messages read what the previous version (before they moved out of
``contracts``) wrote into workflow history, so an order placed before a deploy completes
after it. Each payload below is that version's JSON, as the SDK encoded it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from contracts.inventory import ReservationRequest
from order_processor.messages import (
    ApprovalRequest,
    InventoryCheck,
    InventoryRelease,
    InventoryUpdate,
    Notification,
    OrderPayload,
    RefundRequest,
    ReleaseRequest,
)

# (what the new code reads it as, the JSON written before, what it must read)
WRITTEN_BEFORE: list[tuple[type[BaseModel], str, BaseModel]] = [
    (
        OrderPayload,
        '{"item": "cars", "quantity": 11, "approval_timeout_seconds": 86400}',
        OrderPayload(item="cars", quantity=11, approval_timeout_seconds=86400),
    ),
    # The verify and update activities' input was a twin of inventory's reservation request.
    (
        ReservationRequest,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11}',
        ReservationRequest(order_id="bf5c", item="cars", quantity=11),
    ),
    (
        InventoryCheck,
        '{"item": "cars", "found": true, "reserved": true, "available": 20, "unit_price": 5000}',
        InventoryCheck(reserved=True, available=20, unit_price=5000),
    ),
    (
        InventoryCheck,
        '{"item": "cars", "found": true, "reserved": false, "available": 10, "unit_price": 5000}',
        InventoryCheck(reserved=False, available=10, unit_price=5000),
    ),
    (
        InventoryCheck,
        '{"item": "unicorns", "found": false, "reserved": false, "available": 0, '
        '"unit_price": null}',
        InventoryCheck(),
    ),
    (
        Notification,
        '{"order_id": "bf5c", "message": "hi"}',
        Notification(order_id="bf5c", message="hi"),
    ),
    (
        ApprovalRequest,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "total": 55000}',
        ApprovalRequest(order_id="bf5c", item="cars", quantity=11, total=55_000),
    ),
    (
        InventoryUpdate,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "committed": true, "remaining": 9}',
        InventoryUpdate(committed=True),
    ),
    (
        InventoryUpdate,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "committed": false, '
        '"remaining": null}',
        InventoryUpdate(committed=False),
    ),
    (ReleaseRequest, '{"order_id": "bf5c"}', ReleaseRequest(order_id="bf5c")),
    (
        InventoryRelease,
        '{"order_id": "bf5c", "released": true, "remaining": 20}',
        InventoryRelease(released=True),
    ),
    (
        InventoryRelease,
        '{"order_id": "bf5c", "released": false, "remaining": null}',
        InventoryRelease(released=False),
    ),
    (RefundRequest, '{"order_id": "bf5c"}', RefundRequest(order_id="bf5c")),
]


@pytest.mark.parametrize(
    ("model", "written", "expected"),
    WRITTEN_BEFORE,
    ids=[f"{model.__name__}-{n}" for n, (model, _, _) in enumerate(WRITTEN_BEFORE)],
)
def test_history_written_before_reads_the_same(
    model: type[BaseModel], written: str, expected: BaseModel
) -> None:
    assert model.model_validate_json(written) == expected


@pytest.mark.parametrize(("_model", "_written", "message"), WRITTEN_BEFORE)
def test_messages_survive_a_json_round_trip(
    _model: type[BaseModel], _written: str, message: BaseModel
) -> None:
    assert type(message).model_validate_json(message.model_dump_json()) == message
