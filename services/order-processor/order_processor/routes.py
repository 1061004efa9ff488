"""The order API: one blueprint per resource (orders, the API document)."""

from typing import Annotated

from flask import Blueprint, Response, request
from pydantic import StringConstraints, TypeAdapter, ValidationError

from contracts.errors import FieldError
from contracts.fields import OrderId
from contracts.orders import ApprovalAccepted, ApprovalDecision, OrderRequest
from order_processor.extension import current
from order_processor.openapi import openapi_document
from order_processor.service import (
    IdempotencyConflictError,
    NotAwaitingApprovalError,
    OrderNotFoundError,
)
from servicekit import logs
from servicekit.web import ApiError, json_response, parse_body, parse_value

IDEMPOTENCY_HEADER = "Idempotency-Key"

orders_bp = Blueprint("orders", __name__, url_prefix="/orders")
openapi_bp = Blueprint("openapi", __name__)

_ORDER_ID: TypeAdapter[str] = TypeAdapter(OrderId)
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(
    Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
)


def _order_id(raw: str) -> str:
    """A malformed id names no order: 404, like any unknown one."""
    try:
        return _ORDER_ID.validate_python(raw)
    except ValidationError as err:
        raise _not_found(raw) from err


def _not_found(order_id: str) -> ApiError:
    return ApiError(404, "not_found", f"No order {order_id!r}")


def _idempotency_key() -> str | None:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    return parse_value(_IDEMPOTENCY_KEY, raw, field=IDEMPOTENCY_HEADER)


@orders_bp.post("")
def place_order() -> Response:
    """202 OrderAccepted (the same order again for a repeated Idempotency-Key); 409 idempotency_conflict; 400/413/422 for bad input."""  # noqa: E501
    order = parse_body(OrderRequest)
    key = _idempotency_key()
    try:
        accepted = current().orders.place(order, idempotency_key=key)
    except IdempotencyConflictError as err:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"{IDEMPOTENCY_HEADER} was already used for a different order",
            [FieldError(field=IDEMPOTENCY_HEADER, message="already used with another body")],
        ) from err
    logs.set_order_id(accepted.order_id)
    response = json_response(accepted, 202)
    response.headers["Location"] = f"/orders/{accepted.order_id}"
    return response


@orders_bp.get("/<order_id>")
def get_order(order_id: str) -> Response:
    """200 OrderStatus (runtime status, current step, result once completed); 404 not_found."""
    order_id = _order_id(order_id)
    try:
        return json_response(current().orders.status(order_id))
    except OrderNotFoundError as err:
        raise _not_found(order_id) from err


@orders_bp.post("/<order_id>/approval")
def approve_order(order_id: str) -> Response:
    """202 ApprovalAccepted; 404 not_found; 409 not_awaiting_approval; 400/413/422 for bad input."""
    order_id = _order_id(order_id)
    decision = parse_body(ApprovalDecision)
    try:
        current().orders.decide_approval(order_id, decision)
    except OrderNotFoundError as err:
        raise _not_found(order_id) from err
    except NotAwaitingApprovalError as err:
        raise ApiError(409, "not_awaiting_approval", str(err)) from err
    return json_response(ApprovalAccepted(order_id=order_id, approved=decision.approved), 202)


@openapi_bp.get("/openapi.json")
def get_openapi() -> Response:
    """200 the OpenAPI 3.1 document of this API, generated from the shared models."""
    return Response(openapi_document(), mimetype="application/json")
