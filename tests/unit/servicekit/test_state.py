from __future__ import annotations

import grpc
import pytest

from contracts.inventory import InventoryItem
from servicekit.state import ETagConflictError, StateStore, Write
from tests.unit.fakes import FakeRpcError, FakeStateClient

CARS = InventoryItem(name="cars", unit_price=5000, quantity=10)


@pytest.fixture
def store(state_client: FakeStateClient) -> StateStore:
    return StateStore("teststore", lambda: state_client)


def test_missing_key_reads_as_none(store: StateStore) -> None:
    assert store.get("nope", InventoryItem).value is None


def test_values_round_trip_with_an_etag(store: StateStore) -> None:
    store.put("cars", CARS)

    read = store.get("cars", InventoryItem)

    assert read.value == CARS
    assert read.etag


def test_create_is_first_write_wins(store: StateStore) -> None:
    assert store.create("cars", CARS) is True
    assert store.create("cars", CARS.model_copy(update={"quantity": 1})) is False
    assert store.get("cars", InventoryItem).value == CARS


def test_put_with_a_stale_etag_conflicts(store: StateStore) -> None:
    store.put("cars", CARS)
    stale = store.get("cars", InventoryItem).etag
    store.put("cars", CARS)

    with pytest.raises(ETagConflictError):
        store.put("cars", CARS, etag=stale)


def test_transaction_is_all_or_nothing(store: StateStore, state_client: FakeStateClient) -> None:
    store.put("cars", CARS)
    stale = store.get("cars", InventoryItem).etag
    store.put("cars", CARS.model_copy(update={"quantity": 9}))

    with pytest.raises(ETagConflictError):
        store.transact([Write("other", CARS), Write("cars", CARS, etag=stale)])

    assert store.get("other", InventoryItem).value is None
    assert store.get("cars", InventoryItem).value.quantity == 9  # type: ignore[union-attr]


def test_other_errors_are_not_conflicts(store: StateStore, state_client: FakeStateClient) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "sidecar down")

    state_client.save_state = down  # type: ignore[method-assign]

    with pytest.raises(grpc.RpcError):
        store.put("cars", CARS)


def test_client_is_created_on_first_use_and_closed_once(state_client: FakeStateClient) -> None:
    created: list[FakeStateClient] = []

    def factory() -> FakeStateClient:
        created.append(state_client)
        return state_client

    store = StateStore("teststore", factory)
    assert created == []

    store.get("a", InventoryItem)
    store.get("b", InventoryItem)
    store.close()

    assert len(created) == 1
    assert state_client.closed is True
