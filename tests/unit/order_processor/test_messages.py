"""The workflow's messages read what the previous version (before they moved out of
``contracts``) wrote into workflow history, so an order placed before a deploy completes
after it. Each payload below is that version's JSON, as the SDK encoded it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from contracts.inventory import ReservationRequest
from order_processor import messages as m

# (what the new code reads it as, the JSON written before, what it must read)
WRITTEN_BEFORE: list[tuple[type[BaseModel], str, BaseModel]] = [
    (
        m.OrderPayload,
        '{"item": "cars", "quantity": 11, "approval_timeout_seconds": 86400}',
        m.OrderPayload(item="cars", quantity=11, approval_timeout_seconds=86400),
    ),
    # The verify and update activities' input was a twin of inventory's reservation request.
    (
        ReservationRequest,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11}',
        ReservationRequest(order_id="bf5c", item="cars", quantity=11),
    ),
    (
        m.InventoryCheck,
        '{"item": "cars", "found": true, "reserved": true, "available": 20, "unit_price": 5000}',
        m.InventoryCheck(reserved=True, available=20, unit_price=5000),
    ),
    (
        m.InventoryCheck,
        '{"item": "cars", "found": true, "reserved": false, "available": 10, "unit_price": 5000}',
        m.InventoryCheck(reserved=False, available=10, unit_price=5000),
    ),
    (
        m.InventoryCheck,
        '{"item": "unicorns", "found": false, "reserved": false, "available": 0, '
        '"unit_price": null}',
        m.InventoryCheck(),
    ),
    (
        m.Notification,
        '{"order_id": "bf5c", "message": "hi"}',
        m.Notification(order_id="bf5c", message="hi"),
    ),
    (
        m.ApprovalRequest,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "total": 55000}',
        m.ApprovalRequest(order_id="bf5c", item="cars", quantity=11, total=55_000),
    ),
    (
        m.InventoryUpdate,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "committed": true, "remaining": 9}',
        m.InventoryUpdate(committed=True),
    ),
    (
        m.InventoryUpdate,
        '{"order_id": "bf5c", "item": "cars", "quantity": 11, "committed": false, '
        '"remaining": null}',
        m.InventoryUpdate(committed=False),
    ),
    (m.ReleaseRequest, '{"order_id": "bf5c"}', m.ReleaseRequest(order_id="bf5c")),
    (
        m.InventoryRelease,
        '{"order_id": "bf5c", "released": true, "remaining": 20}',
        m.InventoryRelease(released=True),
    ),
    (
        m.InventoryRelease,
        '{"order_id": "bf5c", "released": false, "remaining": null}',
        m.InventoryRelease(released=False),
    ),
    (m.RefundRequest, '{"order_id": "bf5c"}', m.RefundRequest(order_id="bf5c")),
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
