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
from inventory.store import ITEM_INDEX_KEY, item_key
from tests.unit.fakes import FakeRpcError, FakeSidecar, FakeStateClient

STORE = "inventorystore"


@pytest.fixture
def client(inventory_app: Flask) -> FlaskClient:
    return inventory_app.test_client()


def restock(client: FlaskClient, item: str, quantity: int, unit_price: int) -> Any:
    return client.put(f"/inventory/{item}", json={"quantity": quantity, "unit_price": unit_price})


def withdraw(client: FlaskClient, item: str, order_id: str, quantity: int) -> Any:
    return client.post(
        f"/inventory/{item}/withdrawals", json={"order_id": order_id, "quantity": quantity}
    )


def stock(state_client: FakeStateClient, item: str) -> int:
    return int(json.loads(state_client.get_state(STORE, item_key(item)).data)["quantity"])


def test_restock_sets_absolute_values_and_lists_sorted(client: FlaskClient) -> None:
    assert restock(client, "cars", 10, 5000).get_json() == {
        "name": "cars",
        "unit_price": 5000,
        "quantity": 10,
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


def test_withdrawal_takes_stock_and_a_repeat_takes_nothing(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    restock(client, "cars", 10, 5000)

    first = withdraw(client, "cars", "order-1", 3)
    repeat = withdraw(client, "cars", "order-1", 3)

    assert first.status_code == 200
    assert first.get_json() == {
        "order_id": "order-1",
        "item": "cars",
        "quantity": 3,
        "remaining": 7,
    }
    assert repeat.status_code == 200
    assert repeat.get_json() == first.get_json()
    assert stock(state_client, "cars") == 7


def test_withdrawal_repeat_with_another_quantity_is_a_conflict(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    restock(client, "cars", 10, 5000)
    withdraw(client, "cars", "order-1", 3)

    response = withdraw(client, "cars", "order-1", 4)

    assert response.status_code == 409
    assert response.get_json()["error"] == "withdrawal_conflict"
    assert stock(state_client, "cars") == 7


def test_insufficient_stock_is_409_and_changes_nothing(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    restock(client, "cars", 2, 5000)
    writes = state_client.writes

    response = withdraw(client, "cars", "order-1", 3)

    assert response.status_code == 409
    assert response.get_json()["error"] == "insufficient_inventory"
    assert state_client.writes == writes
    assert stock(state_client, "cars") == 2


def test_stock_never_goes_negative(client: FlaskClient, state_client: FakeStateClient) -> None:
    restock(client, "cars", 5, 5000)

    statuses = [withdraw(client, "cars", f"order-{n}", 2).status_code for n in range(4)]

    assert statuses == [200, 200, 409, 409]
    assert stock(state_client, "cars") == 1


def test_withdrawal_of_unknown_item_is_404(client: FlaskClient) -> None:
    response = withdraw(client, "unicorns", "order-1", 1)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_withdrawal_retries_after_a_concurrent_write(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    """Another writer changes the stock between our read and our write: the ETag catches it."""
    restock(client, "cars", 10, 5000)
    competitor = state_client.get_state(STORE, item_key("cars"))

    def concurrent_withdrawal() -> None:
        item = json.loads(competitor.data)
        item["quantity"] = 6
        state_client.save_state(STORE, item_key("cars"), json.dumps(item), etag=competitor.etag)

    state_client.before_write = concurrent_withdrawal
    response = withdraw(client, "cars", "order-1", 1)

    assert response.status_code == 200
    assert response.get_json()["remaining"] == 5
    assert stock(state_client, "cars") == 5


def test_withdrawal_gives_up_with_503_under_endless_contention(
    state_client: FakeStateClient,
) -> None:
    app = inventory.create_app(
        Settings(etag_max_attempts=2),
        state_client_factory=lambda: state_client,
        sidecar=FakeSidecar(),  # type: ignore[arg-type]
    )
    client = app.test_client()
    restock(client, "cars", 10, 5000)
    original = state_client.execute_state_transaction
    bumps = threading.local()
    bumps.count = 0

    def always_conflicting(store_name: str, operations: Sequence[Any]) -> None:
        bumps.count += 1
        restock(client, "cars", 10, 5000)  # someone restocks every time: our ETag is stale
        original(store_name, operations)

    state_client.execute_state_transaction = always_conflicting  # type: ignore[method-assign]
    response = withdraw(client, "cars", "order-1", 1)

    assert response.status_code == 503
    assert response.get_json()["error"] == "contention"
    assert bumps.count == 2
    assert stock(state_client, "cars") == 10


def test_index_is_created_once_and_guards_new_items(
    state_client: FakeStateClient, client: FlaskClient
) -> None:
    restock(client, "cars", 1, 1)
    restock(client, "computers", 1, 1)

    index = json.loads(state_client.get_state(STORE, ITEM_INDEX_KEY).data)
    assert index == {"names": ["cars", "computers"]}


ORDER = {"order_id": "order-1", "quantity": 1}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/inventory/cars/withdrawals", b"{not json", 400, None),
        ("post", "/inventory/cars/withdrawals", b"", 400, None),
        ("post", "/inventory/cars/withdrawals", {"quantity": 1}, 422, "order_id"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "extra": 1}, 422, "extra"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "quantity": 0}, 422, "quantity"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "quantity": -1}, 422, "quantity"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "quantity": 10**9}, 422, "quantity"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "quantity": "1"}, 422, "quantity"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "quantity": True}, 422, "quantity"),
        ("post", "/inventory/cars/withdrawals", {**ORDER, "order_id": ""}, 422, "order_id"),
        ("post", "/inventory/cars/withdrawals", [ORDER], 422, "body"),
        ("post", f"/inventory/{'x' * 65}/withdrawals", ORDER, 422, "item"),
        ("put", "/inventory/cars", {"quantity": 1}, 422, "unit_price"),
        ("put", "/inventory/cars", {"quantity": -1, "unit_price": 1}, 422, "quantity"),
        ("put", "/inventory/cars", {"quantity": 1, "unit_price": 1.5}, 422, "unit_price"),
        ("put", "/inventory/Bad%20Name!", {"quantity": 1, "unit_price": 1}, 422, "item"),
        ("put", f"/inventory/{'x' * 65}", {"quantity": 1, "unit_price": 1}, 422, "item"),
        ("get", "/inventory/cars/nothing-here", None, 404, None),
        ("delete", "/inventory/cars", None, 405, None),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    client: FlaskClient,
    state_client: FakeStateClient,
    *,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    restock(client, "cars", 10, 5000)
    writes = state_client.writes
    data = body if isinstance(body, bytes) or body is None else json.dumps(body)

    response = getattr(client, method)(path, data=data, content_type="application/json")

    assert response.status_code == status
    payload = response.get_json()
    assert isinstance(payload["error"], str)
    assert payload["message"]
    if field is not None:
        assert field in [f["field"] for f in payload["fields"]]
    assert state_client.writes == writes


def test_oversize_body_is_413(client: FlaskClient, state_client: FakeStateClient) -> None:
    body = json.dumps({"order_id": "order-1", "quantity": 1, "pad": "x" * 20_000})

    response = client.post(
        "/inventory/cars/withdrawals", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert state_client.writes == 0


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
def test_probes(state_client: FakeStateClient, ready: bool, status: int) -> None:
    app = inventory.create_app(
        state_client_factory=lambda: state_client,
        sidecar=FakeSidecar(ready=ready),  # type: ignore[arg-type]
    )
    client = app.test_client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == status


def test_state_store_outage_is_503_not_500(
    client: FlaskClient, state_client: FakeStateClient
) -> None:

    def down(store_name: str, key: str) -> Any:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    state_client.get_state = down  # type: ignore[method-assign]

    response = client.get("/inventory/cars")

    assert response.status_code == 503
    assert response.get_json()["error"] == "dependency_unavailable"


def test_app_creation_does_not_touch_the_sidecar() -> None:
    def explode() -> Any:
        raise AssertionError("state client created at app creation")

    app = inventory.create_app(state_client_factory=explode, sidecar=FakeSidecar())  # type: ignore[arg-type]
    assert app.test_client().get("/healthz").status_code == 200
