"""Stock kept in the state store, and how it is taken for an order.

Keys: ``item:<name>`` per item, ``items`` (the index: state stores cannot list keys
portably) and ``withdrawal:<name>:<order_id>`` per order. A withdrawal writes the item and
its record in one transaction guarded by the item's ETag, so stock never goes negative and
a repeated withdrawal (workflow activities run at least once) takes nothing twice.
"""

import logging
from typing import cast

from flask import Flask, current_app
from pydantic import BaseModel, ConfigDict

from contracts.inventory import InventoryItem, Restock, Withdrawal, WithdrawalRequest
from servicekit.state import ETagConflictError, StateStore, Write

ITEM_INDEX_KEY = "items"

logger = logging.getLogger("inventory.store")


class ItemIndex(BaseModel):
    """Stored state, not a payload: the names of every item ever restocked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = []


def item_key(name: str) -> str:
    return f"item:{name}"


def withdrawal_key(name: str, order_id: str) -> str:
    return f"withdrawal:{name}:{order_id}"


class ItemNotFoundError(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"No item named {name!r}")
        self.name = name


class InsufficientInventoryError(Exception):
    def __init__(self, name: str, requested: int, available: int) -> None:
        super().__init__(f"Cannot take {requested} {name}: only {available} in stock")
        self.name = name
        self.requested = requested
        self.available = available


class WithdrawalConflictError(Exception):
    """The order id was already used to take a different quantity of this item."""

    def __init__(self, first: Withdrawal) -> None:
        super().__init__(
            f"Order {first.order_id} already took {first.quantity} {first.item}; "
            "a withdrawal is never changed"
        )
        self.first = first


class ContentionError(Exception):
    """Too many concurrent writers on one key; the caller should retry later."""


class InventoryStore:
    def __init__(self, state: StateStore, *, max_attempts: int = 5) -> None:
        self.state = state
        self.max_attempts = max_attempts

    def list_items(self) -> list[InventoryItem]:
        index = self.state.get(ITEM_INDEX_KEY, ItemIndex).value or ItemIndex()
        items = (self.get_item(name) for name in sorted(index.names))
        return [item for item in items if item is not None]

    def get_item(self, name: str) -> InventoryItem | None:
        return self.state.get(item_key(name), InventoryItem).value

    def restock(self, name: str, restock: Restock) -> InventoryItem:
        """Set absolute stock and price, adding the item to the index if it is new."""
        item = InventoryItem(name=name, unit_price=restock.unit_price, quantity=restock.quantity)
        for _ in range(self.max_attempts):
            index = self.state.get(ITEM_INDEX_KEY, ItemIndex)
            if index.value is None:
                # Create the index once, so every later change to it is ETag-guarded.
                self.state.create(ITEM_INDEX_KEY, ItemIndex())
                continue
            if name in index.value.names:
                self.state.put(item_key(name), item)
                return item
            names = sorted({*index.value.names, name})
            try:
                self.state.transact(
                    [
                        Write(item_key(name), item),
                        Write(ITEM_INDEX_KEY, ItemIndex(names=names), etag=index.etag),
                    ]
                )
            except ETagConflictError:
                continue
            return item
        raise ContentionError(f"Could not restock {name} after {self.max_attempts} attempts")

    def withdraw(self, name: str, request: WithdrawalRequest) -> Withdrawal:
        """Take stock for an order once; a repeat returns the first withdrawal unchanged."""
        record_key = withdrawal_key(name, request.order_id)
        for _ in range(self.max_attempts):
            first = self.state.get(record_key, Withdrawal).value
            if first is not None:
                if first.quantity != request.quantity:
                    raise WithdrawalConflictError(first)
                return first
            current = self.state.get(item_key(name), InventoryItem)
            if current.value is None:
                raise ItemNotFoundError(name)
            if current.etag is None:
                raise RuntimeError(
                    f"State store {self.state.store_name!r} returned no ETag; "
                    "inventory needs a store with ETag support"
                )
            if current.value.quantity < request.quantity:
                raise InsufficientInventoryError(name, request.quantity, current.value.quantity)
            remaining = current.value.quantity - request.quantity
            withdrawal = Withdrawal(
                order_id=request.order_id,
                item=name,
                quantity=request.quantity,
                remaining=remaining,
            )
            try:
                self.state.transact(
                    [
                        Write(
                            item_key(name),
                            current.value.model_copy(update={"quantity": remaining}),
                            etag=current.etag,
                        ),
                        Write(record_key, withdrawal),
                    ]
                )
            except ETagConflictError:
                logger.info("Stock of %s changed while withdrawing; retrying", name)
                continue
            return withdrawal
        raise ContentionError(f"Could not withdraw {name} after {self.max_attempts} attempts")

    def close(self) -> None:
        self.state.close()


def init_app(app: Flask, store: InventoryStore) -> None:
    app.extensions["inventory.store"] = store


def current_store() -> InventoryStore:
    return cast(InventoryStore, current_app.extensions["inventory.store"])
