"""The order API: one blueprint per resource (orders, inventory, payments, the API document).

order-processor is the system's only edge: operators restock and inspect through it, and it
passes those calls on to inventory and payment through Dapr, which refuse anyone else. Which
role's bearer token each view needs is in ``order_processor.access.ACCESS``, checked before the
view runs: a view here starts from a caller already allowed.
"""

from typing import Annotated

from flask import Blueprint, Response, request
from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from contracts.errors import ErrorBody, FieldError
from contracts.fields import ITEM_NAME, ORDER_ID
from contracts.inventory import Restock
from contracts.orders import (
    MAX_WAIT_SECONDS,
    ApprovalAccepted,
    ApprovalDecision,
    OrderRequest,
    Step,
)
from order_processor.extension import current
from order_processor.following.reads import OrderNotFoundError
from order_processor.following.watch import TooManyWaitingError
from order_processor.openapi import openapi_document
from order_processor.service import IdempotencyConflictError, NotAwaitingApprovalError
from servicekit import logs
from servicekit.web import (
    ApiError,
    error_response,
    found_response,
    json_response,
    parse_body,
    parse_value,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

orders_bp = Blueprint("orders", __name__, url_prefix="/orders")
inventory_bp = Blueprint("inventory", __name__, url_prefix="/inventory")
payments_bp = Blueprint("payments", __name__, url_prefix="/payments")
openapi_bp = Blueprint("openapi", __name__)

_WAIT: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=0, le=MAX_WAIT_SECONDS)])
# ?step= (empty) is "no step yet": the client has seen the order before its first step.
_STEP: TypeAdapter[Step] = TypeAdapter(Step)
# What a client waiting beyond the bound is told: try again after this many seconds.
RETRY_AFTER_S = 1
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(
    Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
)


def _order_id(raw: str) -> str:
    """A malformed id names no order: 404, like any unknown one."""
    try:
        return ORDER_ID.validate_python(raw)
    except ValidationError as err:
        raise _not_found(raw) from err


def _not_found(order_id: str) -> ApiError:
    return ApiError(404, "not_found", f"No order {order_id!r}")


def _seen_step(raw: str | None) -> Step | None:
    """The step a long-polling client has: none yet when it sends none or ``step=``."""
    if not raw:
        return None
    step: Step = parse_value(_STEP, raw, field="step")
    return step


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
    """200 OrderStatus (runtime status, current step, result once completed); 404 not_found.

    ``?wait=S`` (0-30) holds the answer until the order has ended, and with ``&step=X`` also
    until its step is not X (``step=`` for none yet), for at most S seconds: a long poll.
    422 for a bad wait or step; 503 too_many_waiting, with Retry-After, beyond the bound."""
    order_id = _order_id(order_id)
    wait = request.args.get("wait")
    try:
        if wait is None:
            return json_response(current().reader.status(order_id))
        wait_s = parse_value(_WAIT, wait, field="wait")
        step = request.args.get("step")
        seen = _seen_step(step)
        return json_response(
            current().watch.wait(order_id, wait_s=wait_s, any_step=step is not None, step=seen)
        )
    except OrderNotFoundError as err:
        raise _not_found(order_id) from err
    except TooManyWaitingError:
        return too_many_waiting()


def too_many_waiting() -> Response:
    """503 with Retry-After: as many long polls (and board streams) as allowed already wait."""
    response = error_response(
        503,
        ErrorBody(
            error="too_many_waiting",
            message=f"Too many requests are waiting; retry in {RETRY_AFTER_S} s",
        ),
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


@orders_bp.post("/<order_id>/approval")
def approve_order(order_id: str) -> Response:
    """202 ApprovalAccepted; 404 not_found; 409 not_awaiting_approval; 400/413/422 for bad input.

    A manager's token only (401/403 before anything else, access.py)."""
    return json_response(decide_approval(order_id), 202)


def decide_approval(raw_order_id: str) -> ApprovalAccepted:
    """The manager's decision in the body, from the API or the board."""
    order_id = _order_id(raw_order_id)
    decision = parse_body(ApprovalDecision)
    try:
        current().orders.decide_approval(order_id, decision)
    except OrderNotFoundError as err:
        raise _not_found(order_id) from err
    except NotAwaitingApprovalError as err:
        raise ApiError(409, "not_awaiting_approval", str(err)) from err
    return ApprovalAccepted(order_id=order_id, approved=decision.approved)


# Pass-through to inventory and payment: validated here as they validate (so a bad request never
# leaves this app), answered with their models; their 503s arrive as dependency_unavailable.


@inventory_bp.get("")
def list_items() -> Response:
    """200 InventoryList from inventory; 503 dependency_unavailable."""
    return json_response(current().inventory.list_items())


@inventory_bp.get("/<item>")
def get_item(item: str) -> Response:
    """200 InventoryItem from inventory; 404 not_found; 422 for an invalid name."""
    name = parse_value(ITEM_NAME, item, field="item")
    return found_response(current().inventory.get_item(name), f"No item named {name!r}")


@inventory_bp.put("/<item>")
def restock_item(item: str) -> Response:
    """200 InventoryItem with available quantity and price set, reservations kept; 400/413/422 for bad input.

    An operator's token only (401/403 before anything else, access.py)."""  # noqa: E501
    name = parse_value(ITEM_NAME, item, field="item")
    restock = parse_body(Restock)
    return json_response(current().inventory.restock(name, restock))


@payments_bp.get("/<order_id>")
def get_payment(order_id: str) -> Response:
    """200 Payment from payment; 404 not_found when the order was never charged; 422 bad id.

    An operator's or a manager's token (401/403 before anything else, access.py)."""
    order_id = parse_value(ORDER_ID, order_id, field="order_id")
    payment = current().payment.get(order_id)
    return found_response(payment, f"No payment for order {order_id!r}")


@openapi_bp.get("/openapi.json")
def get_openapi() -> Response:
    """200 the OpenAPI 3.1 document of this API, generated from the shared models."""
    return Response(openapi_document(), mimetype="application/json")
