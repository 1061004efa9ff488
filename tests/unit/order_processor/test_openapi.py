"""order_processor.openapi: the document is generated from the shared models, describes every
route the app serves, and every reference in it resolves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from order_processor.access import ACCESS, Session, ordered
from order_processor.openapi import openapi_document


@pytest.fixture
def document() -> dict[str, Any]:
    return dict(json.loads(openapi_document()))


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_schemas_come_from_the_shared_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert document["openapi"] == "3.1.0"
    assert {
        "OrderRequest",
        "OrderAccepted",
        "OrderStatus",
        "OrderResult",
        "ApprovalDecision",
        "ErrorBody",
        "InventoryList",
        "InventoryItem",
        "Restock",
        "Payment",
    } <= set(schemas)
    assert schemas["OrderRequest"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    # The contracts refuse unknown fields; so does the document.
    assert schemas["OrderRequest"]["additionalProperties"] is False
    assert "reserved" in schemas["InventoryItem"]["properties"]
    assert "reserved" not in schemas["Restock"]["properties"]


def test_every_route_the_app_serves_is_described_by_its_endpoint(
    document: dict[str, Any], app: Flask
) -> None:
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower()): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    described = {
        (path, method): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }

    assert served == described


def test_each_operation_needs_the_roles_its_endpoint_has_in_the_access_table(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    needed: dict[str, list[list[str]]] = {}
    for item in document["paths"].values():
        for operation in item.values():
            needed[operation["operationId"]] = [list(alt) for alt in operation["security"]]
            responses = operation["responses"]
            session = isinstance(ACCESS[operation["operationId"]], Session)
            if operation["security"]:
                assert {"401", "403"} <= set(responses)
                assert session or "WWW-Authenticate" in responses["401"]["headers"]
            elif operation["operationId"] != "board.sign_in":  # 401: not the manager's token
                assert not {"401", "403"} & set(responses)

    assert needed == {
        endpoint: [[f"{role}Token"] for role in ordered(rule)]
        for endpoint, rule in ACCESS.items()
        if not isinstance(rule, Session)
    } | {"board.session": [["boardSession"]], "board.events": [["boardSession"]]} | {
        "board.decide": [["boardSession", "boardCsrfToken"]]
    }
    assert needed["orders.approve_order"] == [["managerToken"]]
    assert needed["inventory.restock_item"] == [["operatorToken"]]
    assert needed["payments.get_payment"] == [["operatorToken"], ["managerToken"]]
    assert needed["orders.place_order"] == needed["orders.get_order"] == []
    assert schemes == {
        "operatorToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The operator's token (OPERATOR_API_TOKEN)",
        },
        "managerToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "The manager's token (MANAGER_API_TOKEN)",
        },
        "boardSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": "board_session",
            "description": "The board's session: POST /board/session with the manager's token",
        },
        "boardCsrfToken": {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": "The session's CSRF token (csrf_token of BoardSession)",
        },
    }
    # No global requirement: each operation says its own.
    assert "security" not in document


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = list(refs_in(document))

    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas


def test_the_app_serves_the_document(app: Flask) -> None:
    response = app.test_client().get("/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data(as_text=True) == openapi_document()
