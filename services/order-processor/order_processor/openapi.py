"""The OpenAPI 3.1 document of order-processor's API (orders, and the pass-through to inventory
and payment), generated from the shared pydantic models.

Each operation's ``operationId`` is the Flask endpoint that serves it; its ``security`` (and
its 401 and 403) come from that endpoint's entry in ``order_processor.access.ACCESS``, the
table the app enforces, so the roles are never written here.
"""

import json
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.board import BoardSession, BoardState, SignIn
from contracts.errors import ErrorBody
from contracts.inventory import InventoryItem, InventoryList, Restock
from contracts.orders import (
    MAX_WAIT_SECONDS,
    ApprovalAccepted,
    ApprovalDecision,
    OrderAccepted,
    OrderRequest,
    OrderStatus,
    Step,
)
from contracts.payments import Payment
from contracts.roles import Role
from order_processor.access import (
    ACCESS,
    CSRF_HEADER,
    SESSION_COOKIE,
    Rule,
    Session,
    bearer_roles,
    ordered,
)

REF = "#/components/schemas/{model}"
SESSION_SCHEME = "boardSession"
CSRF_SCHEME = "boardCsrfToken"
MODELS: tuple[type[BaseModel], ...] = (
    OrderRequest,
    OrderAccepted,
    OrderStatus,
    ApprovalDecision,
    ApprovalAccepted,
    InventoryList,
    InventoryItem,
    Restock,
    Payment,
    SignIn,
    BoardSession,
    BoardState,
    ErrorBody,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int, missing: str = "order") -> dict[str, Any]:
    texts = {
        400: "Malformed JSON",
        401: "No bearer token, or not a known one (WWW-Authenticate: Bearer)",
        403: "The bearer token of a role this operation does not allow",
        404: f"Unknown {missing}",
        409: "Conflict with the order's state",
        413: "Body too large",
        422: "Invalid field(s), named in `fields`",
        503: "A service behind this one is unavailable, or too many requests wait; retry later",
    }
    return {str(code): _json(ErrorBody, texts[code]) for code in codes}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_ORDER_ID_PARAM = _path_param("order_id")
_ITEM_PARAM = _path_param("item")


def _paths() -> dict[str, Any]:
    probe = {"200": {"description": "OK"}, "503": {"description": "Not ready"}}
    return {
        "/orders": {
            "post": {
                "operationId": "orders.place_order",
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
                "requestBody": _body(OrderRequest),
                "responses": {
                    "202": _json(OrderAccepted, "Order accepted"),
                    **_errors(400, 409, 413, 422),
                },
            }
        },
        "/orders/{order_id}": {
            "get": {
                "operationId": "orders.get_order",
                "summary": "An order's status, step and result; with wait, a long poll",
                "parameters": [
                    _ORDER_ID_PARAM,
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": "Answer once the order has ended (or, with step, once "
                        "its step is not step), after at most this many seconds.",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                    },
                    {
                        "name": "step",
                        "in": "query",
                        "required": False,
                        "description": "With wait: the step the client has (empty: none yet).",
                        "schema": {"type": "string", "enum": ["", *get_args(Step)]},
                    },
                ],
                "responses": {
                    "200": _json(OrderStatus, "The order"),
                    **_errors(404, 422, 503),
                },
            }
        },
        "/orders/{order_id}/approval": {
            "post": {
                "operationId": "orders.approve_order",
                "summary": "A manager's decision on an order waiting for approval",
                "parameters": [_ORDER_ID_PARAM],
                "requestBody": _body(ApprovalDecision),
                "responses": {
                    "202": _json(ApprovalAccepted, "Decision delivered"),
                    **_errors(400, 404, 409, 413, 422),
                },
            }
        },
        "/inventory": {
            "get": {
                "operationId": "inventory.list_items",
                "summary": "Every item: available and reserved stock, unit price (from inventory)",
                "responses": {"200": _json(InventoryList, "The items"), **_errors(503)},
            }
        },
        "/inventory/{item}": {
            "get": {
                "operationId": "inventory.get_item",
                "summary": "One item (from inventory)",
                "parameters": [_ITEM_PARAM],
                "responses": {
                    "200": _json(InventoryItem, "The item"),
                    **_errors(404, 422, 503, missing="item"),
                },
            },
            "put": {
                "operationId": "inventory.restock_item",
                "summary": "Restock: set available quantity and price; reservations are kept",
                "parameters": [_ITEM_PARAM],
                "requestBody": _body(Restock),
                "responses": {
                    "200": _json(InventoryItem, "The item as restocked"),
                    **_errors(400, 413, 422, 503),
                },
            },
        },
        "/payments/{order_id}": {
            "get": {
                "operationId": "payments.get_payment",
                "summary": "An order's payment (from payment)",
                "parameters": [_ORDER_ID_PARAM],
                "responses": {
                    "200": _json(Payment, "The payment"),
                    **_errors(404, 422, 503, missing="payment"),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "probes.healthz",
                "summary": "Liveness",
                "responses": {"200": {"description": "OK"}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "probes.readyz",
                "summary": "Readiness: the workflow worker is connected",
                "responses": probe,
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi.get_openapi",
                "summary": "This document",
                "responses": {"200": {"description": "OK"}},
            }
        },
        **_board_paths(),
    }


def _board_paths() -> dict[str, Any]:
    """The manager's board: its page, and the calls its script makes."""
    html = {"200": {"description": "OK", "content": {"text/html": {}}}}
    return {
        "/board": {
            "get": {"operationId": "board.page", "summary": "The board's page", "responses": html}
        },
        "/board/static/{name}": {
            "get": {
                "operationId": "board.static",
                "summary": "The page's script and style",
                "parameters": [_path_param("name")],
                "responses": {"200": {"description": "OK"}, "404": {"description": "No file"}},
            }
        },
        "/board/session": {
            "post": {
                "operationId": "board.sign_in",
                "summary": "Sign in with the manager's token: sets the session cookie",
                "requestBody": _body(SignIn),
                "responses": {
                    "200": _json(BoardSession, "Signed in; send csrf_token with decisions"),
                    **_errors(400, 401, 413, 422),
                },
            },
            "get": {
                "operationId": "board.session",
                "summary": "The signed-in session's CSRF token",
                "responses": {"200": _json(BoardSession, "Signed in")},
            },
            "delete": {
                "operationId": "board.sign_out",
                "summary": "Sign out",
                "responses": {"204": {"description": "Signed out"}},
            },
        },
        "/board/events": {
            "get": {
                "operationId": "board.events",
                "summary": "Server-sent events: a BoardState at once and at each change",
                "responses": {
                    "200": {
                        "description": "A stream of `board` events, each a BoardState",
                        "content": {"text/event-stream": {"schema": _ref(BoardState)}},
                    },
                    **_errors(503),
                },
            }
        },
        "/board/orders/{order_id}/decision": {
            "post": {
                "operationId": "board.decide",
                "summary": "A manager's decision from the board",
                "parameters": [_ORDER_ID_PARAM],
                "requestBody": _body(ApprovalDecision),
                "responses": {
                    "202": _json(ApprovalAccepted, "Decision delivered"),
                    **_errors(400, 404, 409, 413, 422),
                },
            }
        },
    }


_CHALLENGE = {
    "description": 'Bearer realm="order-processor", with error="invalid_token" for an unknown one',
    "schema": {"type": "string"},
}


def _scheme(role: Role) -> str:
    return f"{role}Token"


def _security(rule: Rule) -> list[dict[str, list[str]]]:
    """``[]`` (none) when open, one bearer scheme per role allowed (any one will do), or the
    board's session cookie (with its CSRF token for a change)."""
    if isinstance(rule, Session):
        needed: dict[str, list[str]] = {
            SESSION_SCHEME: [],
            **({CSRF_SCHEME: []} if rule.change else {}),
        }
        return [needed]
    return [{_scheme(role): []} for role in ordered(rule)]


def _with_roles(paths: dict[str, Any]) -> dict[str, Any]:
    """Each operation with the security its endpoint has in ``ACCESS``."""
    for item in paths.values():
        for operation in item.values():
            rule = ACCESS[operation["operationId"]]
            operation["security"] = _security(rule)
            if operation["security"]:
                refusals = _errors(401, 403)
                if isinstance(rule, Session):
                    refusals["401"]["description"] = "No board session (sign in first)"
                    refusals["403"]["description"] = (
                        "From another origin, or a change without the session's CSRF token"
                    )
                else:
                    refusals["401"]["headers"] = {"WWW-Authenticate": _CHALLENGE}
                operation["responses"] = dict(
                    sorted({**operation["responses"], **refusals}.items())
                )
    return paths


def _security_schemes() -> dict[str, Any]:
    """A bearer scheme for every role some operation needs, and the board's session."""
    needed = frozenset().union(*map(bearer_roles, ACCESS.values()))
    bearers = {
        _scheme(role): {
            "type": "http",
            "scheme": "bearer",
            "description": f"The {role}'s token ({role.token_variable})",
        }
        for role in ordered(needed)
    }
    session = {
        SESSION_SCHEME: {
            "type": "apiKey",
            "in": "cookie",
            "name": SESSION_COOKIE,
            "description": "The board's session: POST /board/session with the manager's token",
        },
        CSRF_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": CSRF_HEADER,
            "description": "The session's CSRF token (csrf_token of BoardSession)",
        },
    }
    return {**bearers, **session}


@cache
def openapi_document() -> str:
    _, top = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "order-processor", "version": "1.0.0"},
        "paths": _with_roles(_paths()),
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": _security_schemes(),
        },
    }
    return json.dumps(document, indent=2)
