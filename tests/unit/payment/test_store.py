"""The payment store: the decline rule, one charge per order however often or concurrently it
is asked for, and a refund that happens once. Racing threads go through the fake state API,
whose calls are atomic as a store's are; a barrier makes them read the same version first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from contracts.payments import PaymentRequest
from payment.store import (
    NotRefundableError,
    PaymentConflictError,
    PaymentNotFoundError,
    PaymentStore,
    decide,
    payment_key,
)
from servicekit.state import ContentionError, StateStore
from tests.unit.fakes import FakeStateClient

STORE = "paymentstore"
LIMIT = 100_000


def charge_of(amount: int, order_id: str = "order-1") -> PaymentRequest:
    return PaymentRequest(order_id=order_id, item="cars", quantity=1, amount=amount)


@pytest.fixture
def store(state_client: FakeStateClient) -> PaymentStore:
    return PaymentStore(StateStore(STORE, lambda: state_client), decline_over=LIMIT)


@pytest.mark.parametrize(("amount", "status"), [(LIMIT, "approved"), (LIMIT + 1, "declined")])
def test_amounts_over_the_limit_are_declined_with_a_reason(amount: int, status: str) -> None:
    payment = decide(charge_of(amount), decline_over=LIMIT)

    assert payment.status == status
    assert (payment.decline_reason is None) == (status == "approved")
    assert payment.refunded is False


def test_a_repeated_charge_returns_the_first_outcome_and_writes_nothing(
    store: PaymentStore, state_client: FakeStateClient
) -> None:
    first, created = store.charge(charge_of(5000))
    writes = state_client.writes

    again, created_again = store.charge(charge_of(5000))

    assert (created, created_again) == (True, False)
    assert again == first
    assert state_client.writes == writes


def test_the_same_order_charged_for_something_else_is_a_conflict(store: PaymentStore) -> None:
    store.charge(charge_of(5000))

    with pytest.raises(PaymentConflictError) as raised:
        store.charge(charge_of(6000))

    assert raised.value.first.amount == 5000
    assert store.get("order-1") == raised.value.first


def run_together(count: int, work: Callable[[], Any]) -> list[Any]:
    """``work`` in ``count`` threads released at once; their results, or what they raised."""
    barrier = threading.Barrier(count, timeout=10)
    results: list[Any] = [None] * count

    def racer(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except Exception as err:
            results[index] = err

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_charges_of_one_order_charge_once(
    state_client: FakeStateClient,
) -> None:
    # Each racer its own store, as each would be in its own replica.
    def charge() -> tuple[Any, bool]:
        replica = PaymentStore(StateStore(STORE, lambda: state_client), decline_over=LIMIT)
        return replica.charge(charge_of(5000))

    results = run_together(8, charge)

    assert [created for _, created in results].count(True) == 1
    assert len({payment for payment, _ in results}) == 1
    assert state_client.keys(STORE) == {payment_key("order-1")}


def test_a_refund_happens_once_and_a_repeat_returns_it(
    store: PaymentStore, state_client: FakeStateClient
) -> None:
    store.charge(charge_of(5000))

    refunded = store.refund("order-1")
    writes = state_client.writes
    again = store.refund("order-1")

    assert refunded.refunded is True
    assert again == refunded
    assert state_client.writes == writes


def test_only_an_approved_payment_is_refunded(store: PaymentStore) -> None:
    store.charge(charge_of(LIMIT + 1))

    with pytest.raises(NotRefundableError):
        store.refund("order-1")
    with pytest.raises(PaymentNotFoundError):
        store.refund("never-charged")


def test_a_refund_under_endless_contention_gives_up(
    store: PaymentStore, state_client: FakeStateClient
) -> None:
    store.charge(charge_of(5000))
    key = payment_key("order-1")

    def rewrite_first() -> None:
        # Another replica rewrites the payment before each of our writes: our ETag is stale.
        data = state_client.get_state(STORE, key).data
        state_client.save_state(STORE, key, data)
        state_client.before_write = rewrite_first

    state_client.before_write = rewrite_first

    with pytest.raises(ContentionError):
        store.refund("order-1")
    state_client.before_write = None
    payment = store.get("order-1")
    assert payment is not None
    assert payment.refunded is False
