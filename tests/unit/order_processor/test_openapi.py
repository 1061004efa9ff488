"""order_processor.openapi: the document is generated from the shared models, describes every
route the app serves, and every reference in it resolves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

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


def test_every_route_the_app_serves_is_described(document: dict[str, Any], app: Flask) -> None:
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    described = {(path, method) for path, item in document["paths"].items() for method in item}

    assert served == described


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
