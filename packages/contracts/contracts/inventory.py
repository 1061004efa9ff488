"""Payloads of the inventory service's HTTP API."""

from pydantic import BaseModel

from contracts.fields import (
    STRICT_MODEL,
    ItemName,
    OrderId,
    OrderQuantity,
    StockQuantity,
    UnitPrice,
)


class InventoryItem(BaseModel):
    """An item in stock, priced per unit in whole USD."""

    model_config = STRICT_MODEL

    name: ItemName
    unit_price: UnitPrice
    quantity: StockQuantity


class InventoryList(BaseModel):
    """Body of ``GET /inventory``: an object, so fields can be added without breaking clients."""

    model_config = STRICT_MODEL

    items: list[InventoryItem]


class Restock(BaseModel):
    """Body of ``PUT /inventory/<item>``: absolute values, so a repeated PUT changes nothing."""

    model_config = STRICT_MODEL

    quantity: StockQuantity
    unit_price: UnitPrice


class WithdrawalRequest(BaseModel):
    """Body of ``POST /inventory/<item>/withdrawals``; ``order_id`` makes a repeat harmless."""

    model_config = STRICT_MODEL

    order_id: OrderId
    quantity: OrderQuantity


class Withdrawal(BaseModel):
    """Stock taken for one order, and what was left right after."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    remaining: StockQuantity
