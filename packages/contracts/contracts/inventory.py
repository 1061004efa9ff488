"""Payloads of the inventory service's HTTP API."""

from typing import Literal, Self

from pydantic import model_validator

from contracts.fields import (
    ItemName,
    OrderId,
    OrderQuantity,
    StockQuantity,
    StrictModel,
    UnitPrice,
)

# "refused" is only ever an answer: a refusal is not stored, so it is never committed/released.
ReservationState = Literal["reserved", "committed", "released", "refused"]
# Why a reservation was refused: business outcomes, answered as data (200), not as errors.
Refusal = Literal["insufficient_inventory", "unknown_item"]


class InventoryItem(StrictModel):
    """An item, priced per unit in whole USD.

    ``quantity`` is what is available to order; ``reserved`` is held for orders in progress
    (it leaves the building when an order commits, or goes back to ``quantity`` on release).
    """

    name: ItemName
    unit_price: UnitPrice
    quantity: StockQuantity
    # Items stored before reservations existed read as holding none.
    reserved: StockQuantity = 0


class InventoryList(StrictModel):
    """Body of ``GET /inventory``: an object, so fields can be added without breaking clients."""

    items: list[InventoryItem]


class Restock(StrictModel):
    """Body of ``PUT /inventory/<item>``: absolute values, so a repeated PUT changes nothing.

    It sets what is available to order; stock reserved for orders in progress stays reserved.
    """

    quantity: StockQuantity
    unit_price: UnitPrice


class ReservationRequest(StrictModel):
    """Body of ``POST /reservations``; ``order_id`` makes a repeat harmless."""

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity


class Reservation(StrictModel):
    """Stock held for one order, at the price it was held at, or the refusal to hold it.

    ``reserved`` until the order commits it (the stock has left) or releases it (the stock is
    available again); both are final. ``remaining`` is the item's available quantity right
    after this reservation last changed.

    ``refused`` (with ``refusal`` saying why) when there is too little stock or no such item:
    nothing is held or recorded, so the same order may try again (after a restock, say).
    ``remaining`` is then what is available now (0 for an unknown item). ``unit_price`` is
    always set, except on an ``unknown_item`` refusal (no item, no price); ``refusal`` is set
    on a refusal only.
    """

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    unit_price: UnitPrice | None = None
    state: ReservationState
    remaining: StockQuantity
    refusal: Refusal | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.state == "refused") != (self.refusal is not None):
            raise ValueError("refusal is set exactly when state is 'refused'")
        if (self.unit_price is None) != (self.refusal == "unknown_item"):
            raise ValueError("unit_price is set unless the item is unknown")
        if self.refusal == "unknown_item" and self.remaining != 0:
            raise ValueError("an unknown item has nothing remaining")
        return self
