"""The inventory API: one blueprint per resource (``/inventory`` items, ``/reservations``)."""

import logging

from flask import Blueprint, Response, request

from contracts.fields import ITEM_NAME, ORDER_ID
from contracts.inventory import InventoryList, ReservationRequest, Restock
from inventory.store import (
    InventoryStore,
    ReservationConflictError,
    ReservationNotFoundError,
    ReservationSettledError,
    Settlement,
)
from servicekit import logs, web
from servicekit.web import ApiError, found_response, json_response, parse_body, parse_value

inventory_bp = Blueprint("inventory", __name__, url_prefix="/inventory")
reservations_bp = Blueprint("reservations", __name__, url_prefix="/reservations")

logger = logging.getLogger("inventory.routes")


def _item(raw: str) -> str:
    return parse_value(ITEM_NAME, raw, field="item")


def _order_id(raw: str) -> str:
    return parse_value(ORDER_ID, raw, field="order_id")


def _no_item(name: str) -> str:
    return f"No item named {name!r}"


def _no_reservation(order_id: str) -> str:
    return f"No reservation for order {order_id!r}"


def current_store() -> InventoryStore:
    return web.current_store(InventoryStore)


@inventory_bp.get("")
def list_items() -> Response:
    """200 InventoryList of every item, sorted by name; with ``?name=``, that item or none
    (how order-processor looks an item up through Dapr: a 200 even when there is none, since
    Dapr's circuit breaker counts every non-2xx answer as a failure)."""
    store = current_store()
    if "name" not in request.args:
        return json_response(InventoryList(items=store.list_items()))
    found = store.get_item(_item(request.args["name"]))
    return json_response(InventoryList(items=[] if found is None else [found]))


@inventory_bp.get("/<item>")
def get_item(item: str) -> Response:
    """200 InventoryItem; 404 not_found for an unknown item; 422 for an invalid name."""
    name = _item(item)
    return found_response(current_store().get_item(name), _no_item(name))


@inventory_bp.put("/<item>")
def restock_item(item: str) -> Response:
    """200 InventoryItem with the absolute available quantity and price set, reservations kept; 400/413/422 for bad input."""  # noqa: E501
    name = _item(item)
    restock = parse_body(Restock)
    stocked = current_store().restock(name, restock)
    logger.info(
        "Restocked %s: %d available (%d reserved) at %d USD",
        name,
        stocked.quantity,
        stocked.reserved,
        stocked.unit_price,
    )
    return json_response(stocked)


@reservations_bp.post("")
def reserve() -> Response:
    """200 Reservation: reserved (the order's own again on a repeat) or refused (insufficient_inventory, unknown_item; nothing held); 409 reservation_conflict; 503 contention."""  # noqa: E501
    # A refusal is a 200: Dapr counts every non-2xx against the caller's circuit breaker, so a
    # sold-out rush answered with 4xx would trip it and fail the orders in flight.
    request = parse_body(ReservationRequest)
    logs.set_order_id(request.order_id)
    try:
        reservation, created = current_store().reserve(request)
    except ReservationConflictError as err:
        raise ApiError(409, "reservation_conflict", str(err)) from err
    if reservation.state == "refused":
        logger.info(
            "Refused %d %s to order %s: %s; %d available",
            request.quantity,
            request.item,
            request.order_id,
            reservation.refusal,
            reservation.remaining,
        )
    elif created:
        logger.info(
            "Order %s reserved %d %s; %d available",
            request.order_id,
            request.quantity,
            request.item,
            reservation.remaining,
        )
    else:
        logger.info("Repeated reservation; returning it as it is (%s)", reservation.state)
    return json_response(reservation)


@reservations_bp.get("/<order_id>")
def get_reservation(order_id: str) -> Response:
    """200 Reservation; 404 not_found when the order reserved nothing."""
    order_id = _order_id(order_id)
    reservation = current_store().get_reservation(order_id)
    return found_response(reservation, _no_reservation(order_id))


@reservations_bp.post("/<order_id>/commit")
def commit_reservation(order_id: str) -> Response:
    """200 Reservation, committed (also on a repeat); 404 not_found; 409 reservation_released; 503 contention."""  # noqa: E501
    return _settle(order_id, "committed")


@reservations_bp.post("/<order_id>/release")
def release_reservation(order_id: str) -> Response:
    """200 Reservation, released (also on a repeat); 404 not_found; 409 reservation_committed; 503 contention."""  # noqa: E501
    return _settle(order_id, "released")


# How the log tells what a settlement did to the stock.
_SETTLED = {"committed": "took", "released": "released"}


def _settle(raw_order_id: str, state: Settlement) -> Response:
    """Commit or release the order's reservation; a 409 names the state it went to instead."""
    order_id = _order_id(raw_order_id)
    store = current_store()
    try:
        if state == "committed":
            reservation, changed = store.commit(order_id)
        else:
            reservation, changed = store.release(order_id)
    except ReservationNotFoundError as err:
        raise ApiError(404, "not_found", _no_reservation(order_id)) from err
    except ReservationSettledError as err:
        raise ApiError(409, f"reservation_{err.reservation.state}", str(err)) from err
    if changed:
        logger.info(
            "Order %s %s %d %s; %d available",
            order_id,
            _SETTLED[state],
            reservation.quantity,
            reservation.item,
            reservation.remaining,
        )
    return json_response(reservation)
