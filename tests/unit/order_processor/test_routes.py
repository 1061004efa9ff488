from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import WorkflowStatus
from flask import Flask
from flask.testing import FlaskClient

import inventory
import order_processor
from inventory.settings import Settings as InventorySettings
from order_processor.messages import OrderPayload
from order_processor.service import order_id_for
from servicekit.invoke import DaprInvoker
from servicekit.settings import ServiceSettings
from tests.errors import BAD_RESTOCKS, BadRequest, assert_api_error, raw_body
from tests.unit.fakes import (
    DaprMesh,
    FakeRpcError,
    FakeStateClient,
    FakeWorkflowClient,
    FakeWorkflowState,
    answers_busy,
    answers_unauthorized,
    refuses_connection,
    sidecar_clients,
)
from tests.unit.order_processor.conftest import MANAGER, OPERATOR, FakeRuntime, app_settings


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def place(client: FlaskClient, body: Any = None, **headers: str) -> Any:
    return client.post("/orders", json=body or {"item": "cars", "quantity": 1}, headers=headers)


def test_placing_an_order_starts_its_workflow(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    response = place(client, {"item": "Cars", "quantity": 2})

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "PENDING"
    assert response.headers["Location"] == f"/orders/{body['order_id']}"
    assert workflow_client.scheduled == [("order_processing_workflow", body["order_id"])]
    payload = OrderPayload.model_validate_json(
        workflow_client.instances[body["order_id"]].serialized_input or ""
    )
    assert payload == OrderPayload(item="cars", quantity=2, approval_timeout_seconds=300)


def test_orders_without_a_key_are_distinct(client: FlaskClient) -> None:
    assert place(client).get_json()["order_id"] != place(client).get_json()["order_id"]


def test_idempotency_key_returns_the_same_order(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    first = place(client, **{"Idempotency-Key": "abc-123"})
    workflow_client.instances[
        first.get_json()["order_id"]
    ].runtime_status = WorkflowStatus.COMPLETED

    repeat = place(client, **{"Idempotency-Key": "abc-123"})

    assert repeat.status_code == 202
    assert repeat.get_json() == {"order_id": first.get_json()["order_id"], "status": "COMPLETED"}
    assert len(workflow_client.scheduled) == 1
    assert first.get_json()["order_id"] == order_id_for("abc-123")


def test_idempotency_key_with_a_different_body_is_409_naming_the_header(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    place(client, **{"Idempotency-Key": "abc-123"})

    response = place(client, {"item": "cars", "quantity": 2}, **{"Idempotency-Key": "abc-123"})

    assert response.status_code == 409
    assert response.get_json()["error"] == "idempotency_conflict"
    assert response.get_json()["fields"][0]["field"] == "Idempotency-Key"
    assert len(workflow_client.scheduled) == 1


def test_racing_requests_with_one_key_create_one_order(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    """The other request scheduled between our check and our schedule: we return its order."""
    order_id = order_id_for("race")
    original = workflow_client.get_workflow_state
    calls = {"n": 0}

    def state_appears_late(instance_id: str, *, fetch_payloads: bool = True) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            workflow_client.instances[order_id] = FakeWorkflowState(
                order_id,
                WorkflowStatus.RUNNING,
                OrderPayload(item="cars", quantity=1, approval_timeout_seconds=1).model_dump_json(),
            )
            return None
        return original(instance_id)

    workflow_client.get_workflow_state = state_appears_late  # type: ignore[method-assign]

    response = place(client, **{"Idempotency-Key": "race"})

    assert response.status_code == 202
    assert response.get_json() == {"order_id": order_id, "status": "RUNNING"}
    assert workflow_client.scheduled == []


@pytest.mark.parametrize("key", ["", "x" * 201, "has space", "tab\tkey"])
def test_bad_idempotency_key_is_422(
    client: FlaskClient, key: str, workflow_client: FakeWorkflowClient
) -> None:
    response = place(client, **{"Idempotency-Key": key})

    assert response.status_code == 422
    assert response.get_json()["fields"][0]["field"] == "Idempotency-Key"
    assert workflow_client.scheduled == []


ORDER = {"item": "cars", "quantity": 1}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{", 400, None),
        (b"", 400, None),
        (b"not json", 400, None),
        (b"[" * 8_000 + b"]" * 8_000, 400, None),  # nests deeper than the parser
        ({"quantity": 1}, 422, "item"),
        ({"item": "cars"}, 422, "quantity"),
        ({**ORDER, "price": 1}, 422, "price"),
        ({**ORDER, "quantity": 0}, 422, "quantity"),
        ({**ORDER, "quantity": -5}, 422, "quantity"),
        ({**ORDER, "quantity": 10_001}, 422, "quantity"),
        ({**ORDER, "quantity": 10**30}, 422, "quantity"),
        ({**ORDER, "quantity": 1.5}, 422, "quantity"),
        ({**ORDER, "quantity": "1"}, 422, "quantity"),
        ({**ORDER, "quantity": None}, 422, "quantity"),
        ({**ORDER, "item": ""}, 422, "item"),
        ({**ORDER, "item": "   "}, 422, "item"),
        ({**ORDER, "item": "x" * 65}, 422, "item"),
        ({**ORDER, "item": "../etc"}, 422, "item"),
        ({**ORDER, "item": 7}, 422, "item"),
        ([ORDER], 422, "body"),
        (42, 422, "body"),
    ],
)
def test_bad_order_is_rejected_and_starts_nothing(
    client: FlaskClient,
    workflow_client: FakeWorkflowClient,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    response = client.post("/orders", data=raw_body(body), content_type="application/json")

    assert_api_error(response.status_code, response.get_json(), status=status, field=field)
    assert workflow_client.scheduled == []


def test_quantity_error_says_why(client: FlaskClient) -> None:
    response = place(client, {"item": "cars", "quantity": 0})

    assert response.get_json() == {
        "error": "validation_error",
        "message": "Invalid request: quantity",
        "fields": [{"field": "quantity", "message": "Input should be greater than 0"}],
    }


def test_oversize_order_is_413(client: FlaskClient, workflow_client: FakeWorkflowClient) -> None:
    response = client.post(
        "/orders",
        data=json.dumps({"item": "cars", "quantity": 1, "note": "x" * 17_000}),
        content_type="application/json",
    )

    assert response.status_code == 413
    assert workflow_client.scheduled == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/orders/unknown", 404),
        ("get", "/orders/bad%20id", 404),
        ("get", "/nowhere", 404),
        ("put", "/orders", 405),
        ("get", "/orders/x/approval", 405),
    ],
)
def test_unknown_routes_and_methods_are_json(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = getattr(client, method)(path)

    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["error"] in {"not_found", "method_not_allowed"}


def running(workflow_client: FakeWorkflowClient, order_id: str, step: str | None) -> None:
    state = workflow_client.instances[order_id]
    state.runtime_status = WorkflowStatus.RUNNING
    state.serialized_custom_status = step


AT = "2026-12-02T12:00:00Z"
PROGRESS = (
    '{"trail": [{"step": "verifying_inventory", "at": "2026-12-02T12:00:00Z"},'
    ' {"step": "processing_payment", "at": "2026-12-02T12:00:00Z"}], "total": 5000}'
)


@pytest.mark.parametrize(
    ("custom_status", "trail", "total"),
    [
        # What the workflow publishes (following.publish.Progress): step is the trail's last.
        (
            PROGRESS,
            [{"step": "verifying_inventory", "at": AT}, {"step": "processing_payment", "at": AT}],
            5000,
        ),
        # As revisions before the times published it: the steps comma-joined, or one alone.
        (
            "verifying_inventory,processing_payment",
            [
                {"step": "verifying_inventory", "at": None},
                {"step": "processing_payment", "at": None},
            ],
            None,
        ),
        ("processing_payment", [{"step": "processing_payment", "at": None}], None),
    ],
)
def test_status_reports_runtime_status_and_every_step(
    client: FlaskClient,
    workflow_client: FakeWorkflowClient,
    custom_status: str,
    trail: list[dict[str, str | None]],
    total: int | None,
) -> None:
    order_id = place(client).get_json()["order_id"]
    running(workflow_client, order_id, custom_status)

    assert client.get(f"/orders/{order_id}").get_json() == {
        "order_id": order_id,
        "status": "RUNNING",
        "step": "processing_payment",
        "steps": [reached["step"] for reached in trail],
        "trail": trail,
        "item": "cars",
        "quantity": 1,
        "total": total,
        "placed_at": None,
        "result": None,
    }


def test_status_of_a_completed_order_has_its_result(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = place(client).get_json()["order_id"]
    state = workflow_client.instances[order_id]
    state.runtime_status = WorkflowStatus.COMPLETED
    state.serialized_custom_status = "failed"
    state.serialized_output = json.dumps(
        {"processed": False, "reason": "payment_declined", "total": 5000}
    )

    body = client.get(f"/orders/{order_id}").get_json()

    assert body["status"] == "COMPLETED"
    assert body["step"] == "failed"
    assert body["result"] == {"processed": False, "reason": "payment_declined", "total": 5000}


def test_approval_reaches_a_waiting_order(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = place(client).get_json()["order_id"]
    running(workflow_client, order_id, "awaiting_approval")

    response = client.post(f"/orders/{order_id}/approval", json={"approved": True}, headers=MANAGER)

    assert response.status_code == 202
    assert response.get_json() == {"order_id": order_id, "approved": True}
    assert workflow_client.events == [(order_id, "manager_approval", '{"approved": true}')]


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (WorkflowStatus.RUNNING, "processing_payment"),
        (WorkflowStatus.PENDING, None),
        (WorkflowStatus.COMPLETED, "completed"),
        (WorkflowStatus.SUSPENDED, "awaiting_approval"),
    ],
)
def test_approval_of_an_order_not_waiting_is_409(
    client: FlaskClient,
    workflow_client: FakeWorkflowClient,
    status: WorkflowStatus,
    step: str | None,
) -> None:
    order_id = place(client).get_json()["order_id"]
    state = workflow_client.instances[order_id]
    state.runtime_status = status
    state.serialized_custom_status = step

    response = client.post(f"/orders/{order_id}/approval", json={"approved": True}, headers=MANAGER)

    assert response.status_code == 409
    assert response.get_json()["error"] == "not_awaiting_approval"
    assert workflow_client.events == []


def test_approval_of_an_unknown_order_is_404(client: FlaskClient) -> None:
    response = client.post("/orders/nope/approval", json={"approved": True}, headers=MANAGER)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        ({"approved": "yes"}, 422),
        ({"approved": 1}, 422),
        ({}, 422),
        ({"approved": True, "by": "me"}, 422),
    ],
)
def test_bad_approval_is_rejected(
    client: FlaskClient, workflow_client: FakeWorkflowClient, body: Any, status: int
) -> None:
    order_id = place(client).get_json()["order_id"]
    running(workflow_client, order_id, "awaiting_approval")
    response = client.post(
        f"/orders/{order_id}/approval",
        data=raw_body(body),
        content_type="application/json",
        headers=MANAGER,
    )

    assert response.status_code == status
    assert workflow_client.events == []


def test_workflow_client_outage_is_503(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "sidecar down")

    workflow_client.get_workflow_state = down  # type: ignore[method-assign]

    response = client.get("/orders/some-order")

    assert response.status_code == 503
    assert response.get_json()["error"] == "dependency_unavailable"


# -- Pass-through to inventory and payment --------------------------------------------------


def test_restock_and_read_inventory_through_the_edge(
    client: FlaskClient, inventory_app: Flask, mesh: DaprMesh
) -> None:
    put = client.put("/inventory/Cars", json={"quantity": 10, "unit_price": 5000}, headers=OPERATOR)

    assert put.status_code == 200
    assert put.get_json() == {"name": "cars", "unit_price": 5000, "quantity": 10, "reserved": 0}
    assert client.get("/inventory/cars").get_json() == put.get_json()
    assert client.get("/inventory").get_json() == {"items": [put.get_json()]}
    assert inventory_app.test_client().get("/inventory/cars").get_json() == put.get_json()
    # Lookups ask the collection, so an unknown item is a 200 (the breaker counts non-2xx).
    assert [(r.method, r.url.path, r.url.query) for r in mesh.requests] == [
        ("PUT", "/v1.0/invoke/inventory/method/inventory/cars", b""),
        ("GET", "/v1.0/invoke/inventory/method/inventory", b"name=cars"),
        ("GET", "/v1.0/invoke/inventory/method/inventory", b""),
    ]


def test_restock_through_the_edge_keeps_reservations(
    client: FlaskClient, inventory_app: Flask
) -> None:
    client.put("/inventory/cars", json={"quantity": 10, "unit_price": 5000}, headers=OPERATOR)
    inventory_app.test_client().post(
        "/reservations", json={"order_id": "order-1", "item": "cars", "quantity": 3}
    )

    put = client.put("/inventory/cars", json={"quantity": 1, "unit_price": 5000}, headers=OPERATOR)

    assert (put.get_json()["quantity"], put.get_json()["reserved"]) == (1, 3)


def test_unknown_item_through_the_edge_is_404(client: FlaskClient) -> None:
    response = client.get("/inventory/unicorns")

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_payment_through_the_edge(client: FlaskClient, payment_app: Flask) -> None:
    assert client.get("/payments/order-1", headers=OPERATOR).status_code == 404
    charged = payment_app.test_client().post(
        "/payments", json={"order_id": "order-1", "item": "cars", "quantity": 1, "amount": 5000}
    )

    response = client.get("/payments/order-1", headers=OPERATOR)

    assert response.status_code == 200
    assert response.get_json() == charged.get_json()


BAD_PASS_THROUGH_REQUESTS = (
    BadRequest.table(
        [
            ("get", f"/inventory/{'x' * 65}", None, 422, "item"),
            ("get", "/payments/bad%20id", None, 422, "order_id"),
            ("delete", "/inventory/cars", None, 405, None),
            ("get", "/payments", None, 404, None),
        ]
    )
    + BAD_RESTOCKS
)


@pytest.mark.parametrize("bad", BAD_PASS_THROUGH_REQUESTS, ids=str)
def test_bad_pass_through_requests_never_leave_the_edge(
    client: FlaskClient, mesh: DaprMesh, bad: BadRequest
) -> None:
    bad.assert_refused(bad.send(client, headers=OPERATOR))
    assert mesh.requests == []


def test_oversize_restock_is_413(client: FlaskClient, mesh: DaprMesh) -> None:
    body = json.dumps({"quantity": 1, "unit_price": 1, "pad": "x" * 17_000})

    response = client.put(
        "/inventory/cars", data=body, content_type="application/json", headers=OPERATOR
    )

    assert response.status_code == 413
    assert mesh.requests == []


@pytest.mark.parametrize(
    ("respond", "status", "error"),
    [
        (answers_busy, 503, "dependency_unavailable"),
        (refuses_connection, 503, "dependency_unavailable"),
        (answers_unauthorized, 502, "bad_gateway"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "app_id"),
    [
        ("get", "/inventory", "inventory"),
        ("get", "/inventory/cars", "inventory"),
        ("put", "/inventory/cars", "inventory"),
        ("get", "/payments/order-1", "payment"),
    ],
)
def test_dependency_trouble_is_a_json_5xx(
    client: FlaskClient,
    mesh: DaprMesh,
    respond: Any,
    status: int,
    error: str,
    method: str,
    path: str,
    app_id: str,
) -> None:
    mesh.overrides[app_id] = respond

    response = getattr(client, method)(
        path, json={"quantity": 1, "unit_price": 1}, headers=OPERATOR
    )

    assert response.status_code == status
    assert response.get_json()["error"] == error


@pytest.mark.parametrize(("sidecar_sends", "status"), [("s3cret", 200), ("stale", 502)])
def test_the_edge_reaches_a_token_guarded_inventory_through_its_sidecar(
    state_client: FakeStateClient,
    workflow_client: FakeWorkflowClient,
    sidecar_sends: str,
    status: int,
) -> None:
    guarded = inventory.create_app(
        InventorySettings(app_api_token="s3cret"),
        **sidecar_clients(state_client),
    )
    mesh = DaprMesh(apps={"inventory": guarded}, app_tokens={"inventory": sidecar_sends})
    invoker = DaprInvoker(ServiceSettings(app_id="order-processor"), transport=mesh.transport())
    edge = order_processor.create_app(
        app_settings(app_api_token="s3cret"),
        invoker=invoker,
        workflow_client_factory=lambda: workflow_client,
        runtime_factory=FakeRuntime,
    ).test_client()

    response = edge.put("/inventory/cars", json={"quantity": 1, "unit_price": 1}, headers=OPERATOR)

    assert response.status_code == status
    # The app token guards nothing at the edge: its open routes stay open.
    assert edge.get("/orders/unknown").status_code == 404
    assert guarded.test_client().get("/inventory").status_code == 401


def test_lookups_of_unknown_things_are_2xx_on_the_wire(client: FlaskClient, mesh: DaprMesh) -> None:
    """The user gets a 404; the sidecar's circuit breaker sees only 2xx answers."""
    assert client.get("/payments/never-charged", headers=OPERATOR).status_code == 404
    assert client.get("/inventory/no-such-item").status_code == 404

    assert [answer.status_code for answer in mesh.responses] == [200, 200]
