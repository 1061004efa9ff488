from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from dapr.ext.workflow import WorkflowStatus
from flask import Flask
from flask.testing import FlaskClient

from contracts.orders import OrderPayload
from order_processor.service import order_id_for
from tests.unit.fakes import FakeRpcError, FakeWorkflowClient, FakeWorkflowState


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
    data = body if isinstance(body, bytes) else json.dumps(body)

    response = client.post("/orders", data=data, content_type="application/json")

    assert response.status_code == status
    payload = response.get_json()
    assert payload["message"]
    if field is not None:
        assert field in [f["field"] for f in payload["fields"]]
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


def test_status_reports_runtime_status_and_step(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = place(client).get_json()["order_id"]
    running(workflow_client, order_id, "processing_payment")

    assert client.get(f"/orders/{order_id}").get_json() == {
        "order_id": order_id,
        "status": "RUNNING",
        "step": "processing_payment",
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

    response = client.post(f"/orders/{order_id}/approval", json={"approved": True})

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

    response = client.post(f"/orders/{order_id}/approval", json={"approved": True})

    assert response.status_code == 409
    assert response.get_json()["error"] == "not_awaiting_approval"
    assert workflow_client.events == []


def test_approval_of_an_unknown_order_is_404(client: FlaskClient) -> None:
    response = client.post("/orders/nope/approval", json={"approved": True})
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
    data = body if isinstance(body, bytes) else json.dumps(body)

    response = client.post(
        f"/orders/{order_id}/approval", data=data, content_type="application/json"
    )

    assert response.status_code == status
    assert workflow_client.events == []


def test_openapi_document_describes_the_api_from_the_models(client: FlaskClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = json.loads(response.get_data(as_text=True))
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    assert {
        "OrderRequest",
        "OrderAccepted",
        "OrderStatus",
        "OrderResult",
        "ApprovalDecision",
        "ErrorBody",
    } <= set(schemas)
    assert schemas["OrderRequest"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    assert schemas["OrderRequest"]["additionalProperties"] is False
    assert set(document["paths"]) >= {
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/approval",
    }

    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas


def test_workflow_client_outage_is_503(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "sidecar down")

    workflow_client.get_workflow_state = down  # type: ignore[method-assign]

    response = client.get("/orders/some-order")

    assert response.status_code == 503
    assert response.get_json()["error"] == "dependency_unavailable"
