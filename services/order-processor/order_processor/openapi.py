"""The OpenAPI 3.1 document of the order API, generated from the shared pydantic models."""

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.errors import ErrorBody
from contracts.orders import (
    ApprovalAccepted,
    ApprovalDecision,
    OrderAccepted,
    OrderRequest,
    OrderStatus,
)

REF = "#/components/schemas/{model}"
MODELS: tuple[type[BaseModel], ...] = (
    OrderRequest,
    OrderAccepted,
    OrderStatus,
    ApprovalDecision,
    ApprovalAccepted,
    ErrorBody,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Malformed JSON",
        404: "Unknown order",
        409: "Conflict with the order's state",
        413: "Body too large",
        422: "Invalid field(s), named in `fields`",
    }
    return {str(code): _json(ErrorBody, texts[code]) for code in codes}


_ORDER_ID_PARAM = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}


def _paths() -> dict[str, Any]:
    probe = {"200": {"description": "OK"}, "503": {"description": "Not ready"}}
    return {
        "/orders": {
            "post": {
                "summary": "Place an order (starts its workflow)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A retried request with this key returns the same order.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(OrderRequest)}},
                },
                "responses": {
                    "202": _json(OrderAccepted, "Order accepted"),
                    **_errors(400, 409, 413, 422),
                },
            }
        },
        "/orders/{order_id}": {
            "get": {
                "summary": "An order's status, step and result",
                "parameters": [_ORDER_ID_PARAM],
                "responses": {"200": _json(OrderStatus, "The order"), **_errors(404)},
            }
        },
        "/orders/{order_id}/approval": {
            "post": {
                "summary": "A manager's decision on an order waiting for approval",
                "parameters": [_ORDER_ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(ApprovalDecision)}},
                },
                "responses": {
                    "202": _json(ApprovalAccepted, "Decision delivered"),
                    **_errors(400, 404, 409, 413, 422),
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
        "/readyz": {
            "get": {"summary": "Readiness: the workflow worker is connected", "responses": probe}
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}
        },
    }


@cache
def openapi_document() -> str:
    _, top = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "order-processor", "version": "1.0.0"},
        "paths": _paths(),
        "components": {"schemas": top.get("$defs", {})},
    }
    return json.dumps(document, indent=2)
