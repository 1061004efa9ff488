"""The inventory API: one blueprint for the ``/inventory`` resource."""

import logging

from flask import Blueprint, Response
from pydantic import TypeAdapter

from contracts.fields import ItemName
from contracts.inventory import InventoryList, Restock, WithdrawalRequest
from inventory.store import (
    ContentionError,
    InsufficientInventoryError,
    ItemNotFoundError,
    WithdrawalConflictError,
    current_store,
)
from servicekit import logs
from servicekit.web import ApiError, json_response, parse_body, parse_value

inventory_bp = Blueprint("inventory", __name__, url_prefix="/inventory")

_ITEM_NAME: TypeAdapter[str] = TypeAdapter(ItemName)

logger = logging.getLogger("inventory.routes")


def _item(raw: str) -> str:
    return parse_value(_ITEM_NAME, raw, field="item")


def _not_found(name: str) -> ApiError:
    return ApiError(404, "not_found", f"No item named {name!r}")


@inventory_bp.get("")
def list_items() -> Response:
    """200 InventoryList of every item, sorted by name."""
    return json_response(InventoryList(items=current_store().list_items()))


@inventory_bp.get("/<item>")
def get_item(item: str) -> Response:
    """200 InventoryItem; 404 not_found for an unknown item; 422 for an invalid name."""
    name = _item(item)
    found = current_store().get_item(name)
    if found is None:
        raise _not_found(name)
    return json_response(found)


@inventory_bp.put("/<item>")
def restock_item(item: str) -> Response:
    """200 InventoryItem with the absolute quantity and price set; 400/413/422 for bad input."""
    name = _item(item)
    restock = parse_body(Restock)
    try:
        stocked = current_store().restock(name, restock)
    except ContentionError as err:
        raise ApiError(503, "contention", str(err)) from err
    logger.info("Restocked %s: %d at %d USD", name, stocked.quantity, stocked.unit_price)
    return json_response(stocked)


@inventory_bp.post("/<item>/withdrawals")
def withdraw_item(item: str) -> Response:
    """200 Withdrawal (the first one again on a repeat); 404 unknown item; 409 insufficient_inventory or withdrawal_conflict; 503 contention."""  # noqa: E501
    name = _item(item)
    request = parse_body(WithdrawalRequest)
    logs.set_order_id(request.order_id)
    try:
        withdrawal = current_store().withdraw(name, request)
    except ItemNotFoundError as err:
        raise _not_found(err.name) from err
    except InsufficientInventoryError as err:
        raise ApiError(409, "insufficient_inventory", str(err)) from err
    except WithdrawalConflictError as err:
        raise ApiError(409, "withdrawal_conflict", str(err)) from err
    except ContentionError as err:
        raise ApiError(503, "contention", str(err)) from err
    logger.info(
        "Order %s took %d %s; %d left",
        request.order_id,
        request.quantity,
        name,
        withdrawal.remaining,
    )
    return json_response(withdrawal)
