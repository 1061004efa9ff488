"""The store under concurrency: many orders racing for the last units, settlements racing each
other. Threads really race through the fake state API (each call atomic, as in a store); a
barrier makes every racer read the same version first, so conflicts are certain, not lucky.

Racers that must conflict each get a store of their own, as separate processes or replicas
would: within one process the store lets one change of an item through at a time."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from contracts.inventory import ReservationRequest, Restock
from inventory.store import (
    InventoryStore,
    ReservationSettledError,
    item_key,
    reservation_key,
)
from servicekit.state import ContentionError, StateStore
from tests.unit.fakes import FakeStateClient

STORE = "inventorystore"
BARRIER_TIMEOUT_S = 10


def replica(state_client: FakeStateClient) -> InventoryStore:
    """The store of another process or replica: the same state, a lock of its own."""
    return InventoryStore(StateStore(STORE, lambda: state_client), max_attempts=5)


@pytest.fixture
def store(state_client: FakeStateClient) -> InventoryStore:
    store = replica(state_client)
    store.restock("cars", Restock(quantity=10, unit_price=5000))
    return store


def stored(state_client: FakeStateClient) -> tuple[int, int]:
    data = json.loads(state_client.get_state(STORE, item_key("cars")).data)
    return data["quantity"], data["reserved"]


def records(state_client: FakeStateClient) -> dict[str, str]:
    """Order id -> state of every reservation record."""
    return {
        key.removeprefix("reservation:"): json.loads(state_client.get_state(STORE, key).data)[
            "state"
        ]
        for key in state_client.keys(STORE)
        if key.startswith("reservation:")
    }


@contextmanager
def same_first_read(state_client: FakeStateClient, parties: int) -> Iterator[None]:
    """Each thread's first read of the item waits until every thread has made its own."""
    barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
    seen = threading.local()
    read = state_client.get_state

    def get_state(store_name: str, key: str) -> Any:
        entry = read(store_name, key)
        if key == item_key("cars") and not getattr(seen, "done", False):
            seen.done = True
            barrier.wait()
        return entry

    state_client.get_state = get_state  # type: ignore[method-assign]
    try:
        yield
    finally:
        state_client.get_state = read  # type: ignore[method-assign]


def race(parties: int, work: Callable[[int], str]) -> list[str]:
    """Run ``work(n)`` in ``parties`` threads at once; their outcomes, in thread order."""
    outcomes = [""] * parties
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            outcomes[n] = work(n)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return outcomes


def reserve_retrying(store: InventoryStore, request: ReservationRequest) -> str:
    """As the workflow's retry policy does: contention (a 503) is tried again."""
    for _ in range(100):
        try:
            reservation, _ = store.reserve(request)
        except ContentionError:
            continue
        return reservation.refusal or reservation.state
    return "gave up"


def test_racing_orders_reserve_exactly_what_there_is(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    orders = 50
    replicas = [replica(state_client) for _ in range(orders)]

    with same_first_read(state_client, orders):
        outcomes = race(
            orders,
            lambda n: reserve_retrying(
                replicas[n], ReservationRequest(order_id=f"order-{n}", item="cars", quantity=1)
            ),
        )

    assert outcomes.count("reserved") == 10
    assert outcomes.count("insufficient_inventory") == 40
    assert stored(state_client) == (0, 10)
    assert sorted(records(state_client)) == sorted(
        f"order-{n}" for n, outcome in enumerate(outcomes) if outcome == "reserved"
    )
    # Every racer read the same version: all but one of the first writes had to conflict.
    assert state_client.conflicts >= orders - 1


def test_threads_of_one_process_take_turns_on_an_item(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    orders = 50
    conflicts = state_client.conflicts

    outcomes = race(
        orders,
        lambda n: reserve_retrying(
            store, ReservationRequest(order_id=f"order-{n}", item="cars", quantity=1)
        ),
    )

    assert outcomes.count("reserved") == 10
    assert outcomes.count("insufficient_inventory") == 40
    assert stored(state_client) == (0, 10)
    assert state_client.conflicts == conflicts


def test_the_same_order_racing_itself_reserves_once(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    repeats = 8
    request = ReservationRequest(order_id="order-1", item="cars", quantity=3)
    replicas = [replica(state_client) for _ in range(repeats)]

    with same_first_read(state_client, repeats):
        outcomes = race(repeats, lambda n: reserve_retrying(replicas[n], request))

    assert outcomes == ["reserved"] * repeats
    assert stored(state_client) == (7, 3)
    assert records(state_client) == {"order-1": "reserved"}


def test_commit_and_release_racing_settle_once(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    store.reserve(ReservationRequest(order_id="order-1", item="cars", quantity=3))

    replicas = [replica(state_client) for _ in range(2)]

    def settle(n: int) -> str:
        action = replicas[n].commit if n == 0 else replicas[n].release
        try:
            reservation, _ = action("order-1")
        except ReservationSettledError as err:
            return f"refused: already {err.reservation.state}"
        return reservation.state

    with same_first_read(state_client, 2):
        committed, released = race(2, settle)

    final = records(state_client)["order-1"]
    if final == "committed":
        assert (committed, released) == ("committed", "refused: already committed")
        assert stored(state_client) == (7, 0)
    else:
        assert (committed, released) == ("refused: already released", "released")
        assert stored(state_client) == (10, 0)


def test_stock_taken_meanwhile_is_never_reserved_twice(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    """Someone takes the last units between our read and our write: we must not go negative."""
    store.restock("cars", Restock(quantity=1, unit_price=5000))

    def competitor() -> None:
        replica(state_client).reserve(
            ReservationRequest(order_id="order-2", item="cars", quantity=1)
        )

    state_client.before_write = competitor

    refused, created = store.reserve(
        ReservationRequest(order_id="order-1", item="cars", quantity=1)
    )

    assert (refused.state, refused.refusal, refused.remaining, created) == (
        "refused",
        "insufficient_inventory",
        0,
        False,
    )
    assert stored(state_client) == (0, 1)
    assert records(state_client) == {"order-2": "reserved"}
    assert reservation_key("order-1") not in state_client.keys(STORE)


@pytest.mark.parametrize("item", ["cars", "unicorns"], ids=["too few", "unknown item"])
def test_a_refusal_writes_nothing_and_a_later_attempt_may_succeed(
    store: InventoryStore, state_client: FakeStateClient, item: str
) -> None:
    request = ReservationRequest(order_id="order-1", item=item, quantity=11)
    writes = state_client.writes

    refused, created = store.reserve(request)

    assert (refused.state, created) == ("refused", False)
    assert state_client.writes == writes
    assert store.get_reservation("order-1") is None
    assert stored(state_client) == (10, 0)

    store.restock(item, Restock(quantity=20, unit_price=5000))
    reservation, created = store.reserve(request)

    assert (reservation.state, reservation.remaining, created) == ("reserved", 9, True)
    assert store.get_reservation("order-1") == reservation


def test_a_restock_meanwhile_keeps_the_reservation(
    store: InventoryStore, state_client: FakeStateClient
) -> None:
    """A restock lands between a release's read and its write: neither is lost."""
    store.reserve(ReservationRequest(order_id="order-1", item="cars", quantity=3))

    def restock() -> None:
        replica(state_client).restock("cars", Restock(quantity=20, unit_price=5000))

    state_client.before_write = restock
    store.release("order-1")

    assert stored(state_client) == (23, 0)
