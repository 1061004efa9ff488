from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from flask import Flask
from flask.testing import FlaskClient

import inventory
from inventory.settings import Settings
from inventory.store import ITEM_INDEX_KEY, item_key, reservation_key
from tests.errors import BAD_RESTOCKS, BadRequest
from tests.unit.fakes import FakeRpcError, FakeStateClient, sidecar_clients

STORE = "inventorystore"


@pytest.fixture
def client(inventory_app: Flask) -> FlaskClient:
    return inventory_app.test_client()


def restock(client: FlaskClient, item: str, quantity: int, unit_price: int) -> Any:
    return client.put(f"/inventory/{item}", json={"quantity": quantity, "unit_price": unit_price})


def reserve(client: FlaskClient, order_id: str, quantity: int, item: str = "cars") -> Any:
    return client.post(
        "/reservations", json={"order_id": order_id, "item": item, "quantity": quantity}
    )


def three_cars_for_order_1(state: str, *, remaining: int) -> dict[str, Any]:
    """Order-1's reservation of 3 cars at 5 000 USD, as the API answers it."""
    return {
        "order_id": "order-1",
        "item": "cars",
        "quantity": 3,
        "unit_price": 5000,
        "state": state,
        "remaining": remaining,
        "refusal": None,
    }


@pytest.fixture
def three_cars_held_for_order_1(client: FlaskClient) -> None:
    """10 cars in stock at 5 000 USD, 3 of them reserved for order-1."""
    restock(client, "cars", 10, 5000)
    reserve(client, "order-1", 3)


def commit(client: FlaskClient, order_id: str) -> Any:
    return client.post(f"/reservations/{order_id}/commit")


def release(client: FlaskClient, order_id: str) -> Any:
    return client.post(f"/reservations/{order_id}/release")


def stored(state_client: FakeStateClient, item: str) -> tuple[int, int]:
    """(available, reserved) as stored."""
    data = json.loads(state_client.get_state(STORE, item_key(item)).data)
    return data["quantity"], data["reserved"]


def test_restock_sets_absolute_values_and_lists_sorted(client: FlaskClient) -> None:
    assert restock(client, "cars", 10, 5000).get_json() == {
        "name": "cars",
        "unit_price": 5000,
        "quantity": 10,
        "reserved": 0,
    }
    restock(client, "paperclip", 100, 5)
    again = restock(client, "cars", 7, 4000)

    assert again.status_code == 200
    assert again.get_json()["quantity"] == 7
    listed = client.get("/inventory").get_json()
    assert [(i["name"], i["quantity"], i["unit_price"]) for i in listed["items"]] == [
        ("cars", 7, 4000),
        ("paperclip", 100, 5),
    ]


def test_empty_inventory_lists_nothing(client: FlaskClient) -> None:
    response = client.get("/inventory")
    assert response.status_code == 200
    assert response.get_json() == {"items": []}


def test_get_item_normalises_case_and_404s_unknown(client: FlaskClient) -> None:
    restock(client, "cars", 10, 5000)

    assert client.get("/inventory/Cars").get_json()["name"] == "cars"
    missing = client.get("/inventory/unicorns")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"


def test_items_stored_before_reservations_read_as_holding_none(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    old = {"name": "cars", "unit_price": 5000, "quantity": 3}
    state_client.save_state(STORE, item_key("cars"), json.dumps(old))

    assert client.get("/inventory/cars").get_json() == {**old, "reserved": 0}


def test_reservation_holds_stock_and_a_repeat_changes_nothing(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    restock(client, "cars", 10, 5000)

    first = reserve(client, "order-1", 3)
    writes = state_client.writes
    repeat = reserve(client, "order-1", 3)

    assert first.status_code == 200
    assert first.get_json() == three_cars_for_order_1("reserved", remaining=7)
    assert repeat.status_code == 200
    assert repeat.get_json() == first.get_json()
    assert state_client.writes == writes
    assert stored(state_client, "cars") == (7, 3)
    assert client.get("/inventory/cars").get_json()["reserved"] == 3
    assert client.get("/reservations/order-1").get_json() == first.get_json()


def test_reservation_keeps_the_price_it_was_made_at(client: FlaskClient) -> None:
    restock(client, "cars", 10, 5000)
    reserve(client, "order-1", 1)

    restock(client, "cars", 10, 6000)

    assert client.get("/reservations/order-1").get_json()["unit_price"] == 5000


@pytest.mark.parametrize(
    ("item", "quantity"), [("cars", 4), ("computers", 3)], ids=["quantity", "item"]
)
def test_reservation_repeat_for_something_else_is_a_conflict(
    client: FlaskClient, state_client: FakeStateClient, item: str, quantity: int
) -> None:
    restock(client, "cars", 10, 5000)
    restock(client, "computers", 10, 500)
    reserve(client, "order-1", 3)
    writes = state_client.writes

    response = reserve(client, "order-1", quantity, item=item)

    assert response.status_code == 409
    assert response.get_json()["error"] == "reservation_conflict"
    assert state_client.writes == writes
    assert stored(state_client, "cars") == (7, 3)
    assert stored(state_client, "computers") == (10, 0)


@pytest.mark.parametrize(
    ("item", "quantity", "unit_price", "remaining", "refusal"),
    [("cars", 3, 5000, 2, "insufficient_inventory"), ("unicorns", 1, None, 0, "unknown_item")],
    ids=["too few", "unknown item"],
)
def test_a_refusal_is_a_200_with_the_reason_and_records_nothing(
    client: FlaskClient,
    state_client: FakeStateClient,
    *,
    item: str,
    quantity: int,
    unit_price: int | None,
    remaining: int,
    refusal: str,
) -> None:
    """Business outcomes are data: a non-2xx would count against the caller's circuit breaker."""
    restock(client, "cars", 2, 5000)
    writes = state_client.writes

    response = reserve(client, "order-1", quantity, item=item)

    assert response.status_code == 200
    assert response.get_json() == {
        "order_id": "order-1",
        "item": item,
        "quantity": quantity,
        "unit_price": unit_price,
        "state": "refused",
        "remaining": remaining,
        "refusal": refusal,
    }
    assert state_client.writes == writes
    assert reservation_key("order-1") not in state_client.keys(STORE)
    assert client.get("/reservations/order-1").status_code == 404
    assert stored(state_client, "cars") == (2, 0)


def test_a_refused_order_can_reserve_after_a_restock(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    """A refusal is not remembered: the same order id tries again and gets the new stock."""
    restock(client, "cars", 2, 5000)
    refused = reserve(client, "order-1", 3)
    unknown = reserve(client, "order-1", 3, item="computers")
    restock(client, "cars", 5, 5000)

    again = reserve(client, "order-1", 3)

    assert refused.get_json()["refusal"] == "insufficient_inventory"
    assert unknown.get_json()["refusal"] == "unknown_item"  # not a reservation_conflict
    assert again.status_code == 200
    assert (again.get_json()["state"], again.get_json()["remaining"]) == ("reserved", 2)
    assert stored(state_client, "cars") == (2, 3)
    assert client.get("/reservations/order-1").get_json() == again.get_json()


def test_available_stock_never_goes_negative(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    restock(client, "cars", 5, 5000)

    answers = [reserve(client, f"order-{n}", 2) for n in range(4)]

    assert [a.status_code for a in answers] == [200] * 4
    assert [a.get_json()["state"] for a in answers] == [
        "reserved",
        "reserved",
        "refused",
        "refused",
    ]
    assert [a.get_json()["remaining"] for a in answers] == [3, 1, 1, 1]
    assert stored(state_client, "cars") == (1, 4)


@pytest.mark.usefixtures("three_cars_held_for_order_1")
@pytest.mark.parametrize(
    ("settle", "state", "available"),
    # Committed stock leaves with the order; released stock is available again.
    [(commit, "committed", 5), (release, "released", 8)],
    ids=["commit", "release"],
)
def test_settling_a_reservation_moves_its_stock_once(
    client: FlaskClient, state_client: FakeStateClient, settle: Any, state: str, available: int
) -> None:
    reserve(client, "order-2", 2)

    first = settle(client, "order-1")
    writes = state_client.writes
    repeat = settle(client, "order-1")

    assert first.status_code == 200
    # remaining: what is available now, order-2's reservation included.
    assert first.get_json() == three_cars_for_order_1(state, remaining=available)
    assert repeat.get_json() == first.get_json()
    assert state_client.writes == writes
    assert stored(state_client, "cars") == (available, 2)


@pytest.mark.usefixtures("three_cars_held_for_order_1")
def test_a_reservation_repeated_after_it_was_settled_is_returned_as_it_is(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    released = release(client, "order-1").get_json()

    again = reserve(client, "order-1", 3)

    assert again.status_code == 200
    assert again.get_json() == released
    assert stored(state_client, "cars") == (10, 0)


@pytest.mark.usefixtures("three_cars_held_for_order_1")
@pytest.mark.parametrize(
    ("first", "then", "error"),
    [(release, commit, "reservation_released"), (commit, release, "reservation_committed")],
    ids=["commit after release", "release after commit"],
)
def test_a_settled_reservation_never_goes_the_other_way(
    client: FlaskClient, state_client: FakeStateClient, first: Any, then: Any, error: str
) -> None:
    first(client, "order-1")
    before = stored(state_client, "cars")
    writes = state_client.writes

    response = then(client, "order-1")

    assert response.status_code == 409
    assert response.get_json()["error"] == error
    assert state_client.writes == writes
    assert stored(state_client, "cars") == before


@pytest.mark.usefixtures("three_cars_held_for_order_1")
def test_restock_sets_available_and_keeps_reservations(
    client: FlaskClient, state_client: FakeStateClient
) -> None:

    response = restock(client, "cars", 0, 5000)

    assert response.get_json() == {"name": "cars", "unit_price": 5000, "quantity": 0, "reserved": 3}
    assert commit(client, "order-1").get_json()["remaining"] == 0
    assert stored(state_client, "cars") == (0, 0)


@pytest.mark.parametrize("settle", [commit, release, lambda c, o: c.get(f"/reservations/{o}")])
def test_unknown_reservation_is_404(client: FlaskClient, settle: Any) -> None:
    response = settle(client, "order-404")

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_reservation_retries_after_a_concurrent_write(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    """Another order reserves between our read and our write: the ETag catches it."""
    restock(client, "cars", 10, 5000)
    competitor = state_client.get_state(STORE, item_key("cars"))

    def concurrent_reservation() -> None:
        item = json.loads(competitor.data)
        item.update(quantity=6, reserved=4)
        state_client.save_state(STORE, item_key("cars"), json.dumps(item), etag=competitor.etag)

    state_client.before_write = concurrent_reservation
    response = reserve(client, "order-1", 1)

    assert response.status_code == 200
    assert response.get_json()["remaining"] == 5
    assert stored(state_client, "cars") == (5, 5)


def test_reservation_record_is_created_first_write(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    """A concurrent request for the same order (another item) wrote the record first: ours must
    fail and then return theirs, not overwrite it."""
    restock(client, "cars", 10, 5000)
    theirs = {
        "order_id": "order-1",
        "item": "computers",
        "quantity": 1,
        "unit_price": 500,
        "state": "reserved",
        "remaining": 9,
    }

    def concurrent_record() -> None:
        state_client.save_state(STORE, reservation_key("order-1"), json.dumps(theirs))

    state_client.before_write = concurrent_record
    response = reserve(client, "order-1", 1)

    assert response.status_code == 409
    assert response.get_json()["error"] == "reservation_conflict"
    assert json.loads(state_client.get_state(STORE, reservation_key("order-1")).data) == theirs
    assert stored(state_client, "cars") == (10, 0)


@pytest.mark.parametrize("operation", ["reserve", "commit", "release"])
def test_gives_up_with_503_under_endless_contention(
    state_client: FakeStateClient, operation: str
) -> None:
    app = inventory.create_app(
        Settings(etag_max_attempts=2),
        **sidecar_clients(state_client),
    )
    client = app.test_client()
    restock(client, "cars", 10, 5000)
    if operation != "reserve":
        reserve(client, "order-1", 1)
    before = stored(state_client, "cars")
    original = state_client.execute_state_transaction
    bumps = threading.local()
    bumps.count = 0

    def always_conflicting(store_name: str, operations: Sequence[Any]) -> None:
        bumps.count += 1
        # Another replica rewrites the item every time: our ETag is stale.
        item = state_client.get_state(STORE, item_key("cars"))
        state_client.save_state(STORE, item_key("cars"), item.data)
        original(store_name, operations)

    state_client.execute_state_transaction = always_conflicting  # type: ignore[method-assign]
    if operation == "reserve":
        response = reserve(client, "order-2", 1)
    else:
        response = client.post(f"/reservations/order-1/{operation}")

    assert response.status_code == 503
    assert response.get_json()["error"] == "contention"
    assert bumps.count == 2
    assert stored(state_client, "cars") == before


def test_index_is_created_once_and_guards_new_items(
    state_client: FakeStateClient, client: FlaskClient
) -> None:
    restock(client, "cars", 1, 1)
    restock(client, "computers", 1, 1)

    index = json.loads(state_client.get_state(STORE, ITEM_INDEX_KEY).data)
    assert index == {"names": ["cars", "computers"]}


RESERVATION = {"order_id": "order-1", "item": "cars", "quantity": 1}


BAD_REQUESTS = (
    BadRequest.table(
        [
            ("post", "/reservations", b"{not json", 400, None),
            ("post", "/reservations", b"", 400, None),
            ("post", "/reservations", {"item": "cars", "quantity": 1}, 422, "order_id"),
            ("post", "/reservations", {"order_id": "o", "quantity": 1}, 422, "item"),
            ("post", "/reservations", {**RESERVATION, "extra": 1}, 422, "extra"),
            ("post", "/reservations", {**RESERVATION, "quantity": 0}, 422, "quantity"),
            ("post", "/reservations", {**RESERVATION, "quantity": -1}, 422, "quantity"),
            ("post", "/reservations", {**RESERVATION, "quantity": 10**9}, 422, "quantity"),
            ("post", "/reservations", {**RESERVATION, "quantity": "1"}, 422, "quantity"),
            ("post", "/reservations", {**RESERVATION, "quantity": True}, 422, "quantity"),
            ("post", "/reservations", {**RESERVATION, "order_id": ""}, 422, "order_id"),
            ("post", "/reservations", {**RESERVATION, "item": "x" * 65}, 422, "item"),
            ("post", "/reservations", [RESERVATION], 422, "body"),
            ("post", "/reservations/bad%20id/commit", None, 422, "order_id"),
            ("post", "/reservations/bad%20id/release", None, 422, "order_id"),
            ("get", "/reservations/bad%20id", None, 422, "order_id"),
            ("get", "/inventory/cars/nothing-here", None, 404, None),
            ("post", "/inventory/cars/withdrawals", RESERVATION, 404, None),
            ("delete", "/inventory/cars", None, 405, None),
            ("get", "/reservations/order-1/commit", None, 405, None),
        ]
    )
    + BAD_RESTOCKS
)


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=str)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    client: FlaskClient, state_client: FakeStateClient, bad: BadRequest
) -> None:
    restock(client, "cars", 10, 5000)
    writes = state_client.writes

    bad.assert_refused(bad.send(client))
    assert state_client.writes == writes


def test_oversize_body_is_413(client: FlaskClient, state_client: FakeStateClient) -> None:
    body = json.dumps({**RESERVATION, "pad": "x" * 20_000})

    response = client.post("/reservations", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert state_client.writes == 0


def test_state_store_outage_is_503_not_500(
    client: FlaskClient, state_client: FakeStateClient
) -> None:

    def down(store_name: str, key: str) -> Any:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    state_client.get_state = down  # type: ignore[method-assign]

    response = client.get("/inventory/cars")

    assert response.status_code == 503
    assert response.get_json()["error"] == "dependency_unavailable"
