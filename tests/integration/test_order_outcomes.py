"""Every outcome of the order workflow, end to end through the HTTP API on the real runtime:
three gunicorn apps, three sidecars, placement, scheduler. Stock and payments are checked after
each order. Each test stocks its own item, so the tests share no state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.system import (
    APPROVAL_TIMEOUT_SECONDS,
    PAYMENT_DECLINE_OVER,
    OrderApi,
    new_item,
    running_system,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderApi]:
    with running_system(tmp_path_factory.mktemp("system")) as system:
        yield OrderApi(system)


def outcome(done: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the order was processed and, if not, why."""
    return done["result"]["processed"], done["result"]["reason"]


def test_order_in_stock_completes_and_takes_stock_and_charges(api: OrderApi) -> None:
    item = new_item()
    api.restock(item, quantity=10, unit_price=5000)

    order_id = api.place(item, 1)
    done = api.wait_for(order_id)

    assert done["status"] == "COMPLETED"
    assert done["step"] == "completed"
    assert done["result"] == {"processed": True, "reason": None, "total": 5000}
    assert api.stock(item) == 9
    payment = api.payment_of(order_id)
    assert (payment["status"], payment["amount"], payment["refunded"]) == ("approved", 5000, False)


@pytest.mark.parametrize(
    ("stocked", "ordered"), [(None, 1), (3, 4)], ids=["unknown-item", "too-few"]
)
def test_order_without_enough_stock_is_not_processed(
    api: OrderApi, stocked: int | None, ordered: int
) -> None:
    item = new_item()
    if stocked is not None:
        api.restock(item, quantity=stocked, unit_price=10)

    order_id = api.place(item, ordered)
    done = api.wait_for(order_id)

    assert done["status"] == "COMPLETED"
    assert outcome(done) == (False, "insufficient_inventory")
    assert api.payment_record(order_id) is None
    if stocked is not None:
        assert api.stock(item) == stocked


def test_large_order_waits_for_approval_and_completes_when_approved(api: OrderApi) -> None:
    item = new_item()
    api.restock(item, quantity=20, unit_price=5000)

    order_id = api.place(item, 11)  # 55 000 USD: over the 50 000 USD approval threshold
    waiting = api.wait_for(order_id, step="awaiting_approval")
    assert waiting["status"] == "RUNNING"
    assert api.stock(item) == 9  # held for the order while the manager decides

    assert api.decide(order_id, approved=True).status_code == 202
    done = api.wait_for(order_id)

    assert done["result"] == {"processed": True, "reason": None, "total": 55000}
    assert api.stock(item) == 9
    assert api.payment_record(order_id) is not None
    # The order no longer waits: a second decision is refused and changes nothing.
    assert api.decide(order_id, approved=False).status_code == 409


@pytest.mark.parametrize(
    ("decision", "reason"),
    [(False, "approval_rejected"), (None, "approval_timeout")],
    ids=["rejected", "nobody-decides"],
)
def test_order_a_manager_does_not_approve_is_not_processed(
    api: OrderApi, decision: bool | None, reason: str
) -> None:
    item, order_id = api.place_awaiting_approval()

    if decision is not None:
        assert api.decide(order_id, approved=decision).status_code == 202
    done = api.wait_for(order_id, deadline_s=APPROVAL_TIMEOUT_SECONDS + 60)

    assert outcome(done) == (False, reason)
    assert api.stock(item) == 20
    assert api.payment_record(order_id) is None


def test_declined_payment_leaves_stock_alone(api: OrderApi) -> None:
    # One unit is over the payment service's limit.
    item, order_id = api.place_awaiting_approval(
        stock=5, quantity=1, unit_price=PAYMENT_DECLINE_OVER + 1
    )
    api.decide(order_id, approved=True)
    done = api.wait_for(order_id)

    assert outcome(done) == (False, "payment_declined")
    assert api.stock(item) == 5
    payment = api.payment_of(order_id)
    assert payment["status"] == "declined"


def test_hold_cancelled_before_update_fails_the_order_and_refunds(api: OrderApi) -> None:
    item, order_id = api.place_awaiting_approval()
    api.release(order_id)  # an operator cancels the hold while the manager decides
    api.decide(order_id, approved=True)
    done = api.wait_for(order_id)

    assert outcome(done) == (False, "inventory_update_failed")
    assert api.stock(item) == 20
    payment = api.payment_of(order_id)
    assert (payment["status"], payment["refunded"]) == ("approved", True)
    assert f"Order {order_id} Failed!" in api.plan.log()


def test_idempotency_key_returns_the_same_order(api: OrderApi) -> None:
    item = new_item()
    api.restock(item, quantity=10, unit_price=5000)
    key = uuid.uuid4().hex

    first = api.place(item, 1, **{"Idempotency-Key": key})
    second = api.place(item, 1, **{"Idempotency-Key": key})
    api.wait_for(first)

    assert first == second
    assert api.stock(item) == 9


def test_unknown_order_is_404(api: OrderApi) -> None:
    assert api.orders.get(f"/orders/{uuid.uuid4().hex}").status_code == 404
    assert api.decide(uuid.uuid4().hex, approved=True).status_code == 404


def test_log_lines_carry_the_order_id(api: OrderApi, tmp_path: Path) -> None:
    item = new_item()
    api.restock(item, quantity=10, unit_price=5000)
    order_id = api.place(item, 2)
    api.wait_for(order_id)

    lines = [
        line
        for line in api.plan.log().splitlines()
        if "UpdateInventoryActivity" in line and order_id in line
    ]
    assert any(f"There are now 8 {item} left in stock" in line for line in lines), lines
    assert all(f"order_id={order_id}" in line for line in lines), lines
