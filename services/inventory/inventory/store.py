"""Stock kept in the state store, and how it is held for an order, then committed or released.

Keys: ``item:<name>`` per item, ``items`` (the index: state stores cannot list keys portably)
and ``reservation:<order_id>`` per order. Every change of one operation is one transaction
guarded by ETags (the reservation record is created with first-write), retried a bounded number
of times on a conflict. So stock never goes negative, many orders racing for the last units get
exactly what there is, and a repeat (workflow activities run at least once) changes nothing.

Too little stock or an unknown item is a business outcome, returned as a ``refused``
reservation; it writes nothing, so the same order may reserve later (after a restock).
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from contracts.inventory import (
    InventoryItem,
    Reservation,
    ReservationRequest,
    Restock,
)
from servicekit.state import ContentionError, ETagConflictError, StateStore, Versioned, Write

M = TypeVar("M", bound=BaseModel)

ITEM_INDEX_KEY = "items"
ITEM_LOCK_STRIPES = 64

logger = logging.getLogger("inventory.store")


class ItemIndex(BaseModel):
    """Stored state, not a payload: the names of every item ever restocked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = []


def item_key(name: str) -> str:
    return f"item:{name}"


def reservation_key(order_id: str) -> str:
    return f"reservation:{order_id}"


class ReservationNotFoundError(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"No reservation for order {order_id!r}")
        self.order_id = order_id


class ReservationConflictError(Exception):
    """The order id already reserved a different item or quantity."""

    def __init__(self, first: Reservation) -> None:
        super().__init__(
            f"Order {first.order_id} already reserved {first.quantity} {first.item}; "
            "a reservation is never changed"
        )
        self.first = first


class ReservationSettledError(Exception):
    """The reservation was already committed or released, which is final."""

    def __init__(self, reservation: Reservation) -> None:
        super().__init__(
            f"The reservation for order {reservation.order_id} was already {reservation.state}"
        )
        self.reservation = reservation


Settlement = Literal["committed", "released"]


def _refused(request: ReservationRequest, item: InventoryItem | None) -> Reservation:
    """The answer when ``item`` (None: unknown) cannot cover the request; never stored."""
    return Reservation(
        order_id=request.order_id,
        item=request.item,
        quantity=request.quantity,
        unit_price=None if item is None else item.unit_price,
        state="refused",
        remaining=0 if item is None else item.quantity,
        refusal="unknown_item" if item is None else "insufficient_inventory",
    )


def _changed(model: M, **changes: Any) -> M:
    # model_copy(update=...) skips validation; this keeps every limit (no negative stock).
    return type(model).model_validate({**model.model_dump(), **changes})


class InventoryStore:
    def __init__(self, state: StateStore, *, max_attempts: int = 5) -> None:
        self.state = state
        self.max_attempts = max_attempts
        # Striped, so that orders for made-up item names cannot grow a lock per name.
        self._item_locks = [threading.Lock() for _ in range(ITEM_LOCK_STRIPES)]

    @contextmanager
    def _changing(self, name: str) -> Iterator[None]:
        """One change of an item at a time in this process. The ETags keep stock exact across
        processes and replicas; this lock only spares the threads of one process from racing
        each other on a hot item, where each lost race costs a read, a failed transaction and,
        after `max_attempts`, a 503 and a workflow retry."""
        with self._item_locks[hash(name) % ITEM_LOCK_STRIPES]:
            yield

    def list_items(self) -> list[InventoryItem]:
        index = self.state.get(ITEM_INDEX_KEY, ItemIndex).value or ItemIndex()
        items = (self.get_item(name) for name in sorted(index.names))
        return [item for item in items if item is not None]

    def get_item(self, name: str) -> InventoryItem | None:
        return self.state.get(item_key(name), InventoryItem).value

    def restock(self, name: str, restock: Restock) -> InventoryItem:
        """Set absolute available stock and price, keeping what is reserved; a new item is also
        added to the index."""
        with self._changing(name):
            return self._restock(name, restock)

    def _restock(self, name: str, restock: Restock) -> InventoryItem:
        for _ in range(self.max_attempts):
            current = self.state.get(item_key(name), InventoryItem)
            if current.value is not None:
                item = _changed(
                    current.value, quantity=restock.quantity, unit_price=restock.unit_price
                )
                try:
                    self.state.put(item_key(name), item, etag=self._etag(current))
                except ETagConflictError:
                    continue
                return item
            index = self.state.get(ITEM_INDEX_KEY, ItemIndex)
            if index.value is None:
                # Create the index once, so every later change to it is ETag-guarded.
                self.state.create(ITEM_INDEX_KEY, ItemIndex())
                continue
            item = InventoryItem(
                name=name, unit_price=restock.unit_price, quantity=restock.quantity
            )
            names = sorted({*index.value.names, name})
            try:
                self.state.transact(
                    [
                        Write(item_key(name), item, create=True),
                        Write(ITEM_INDEX_KEY, ItemIndex(names=names), etag=index.etag),
                    ]
                )
            except ETagConflictError:
                continue
            return item
        raise ContentionError(f"Could not restock {name} after {self.max_attempts} attempts")

    def get_reservation(self, order_id: str) -> Reservation | None:
        return self.state.get(reservation_key(order_id), Reservation).value

    def reserve(self, request: ReservationRequest) -> tuple[Reservation, bool]:
        """Hold stock for an order, and whether this call did. False: a repeat, which returns
        the order's reservation as it is now, or a refusal (too little stock, unknown item);
        neither writes anything."""
        with self._changing(request.item):
            return self._reserve(request)

    def _reserve(self, request: ReservationRequest) -> tuple[Reservation, bool]:
        record_key = reservation_key(request.order_id)
        for _ in range(self.max_attempts):
            first = self.get_reservation(request.order_id)
            if first is not None:
                if (first.item, first.quantity) != (request.item, request.quantity):
                    raise ReservationConflictError(first)
                return first, False
            stock = self.state.get(item_key(request.item), InventoryItem)
            item = stock.value
            if item is None or item.quantity < request.quantity:
                return _refused(request, item), False
            remaining = item.quantity - request.quantity
            reservation = Reservation(
                order_id=request.order_id,
                item=request.item,
                quantity=request.quantity,
                unit_price=item.unit_price,
                state="reserved",
                remaining=remaining,
            )
            held = _changed(item, quantity=remaining, reserved=item.reserved + request.quantity)
            try:
                self.state.transact(
                    [
                        Write(item_key(request.item), held, etag=self._etag(stock)),
                        Write(record_key, reservation, create=True),
                    ]
                )
            except ETagConflictError:
                logger.info("Stock of %s changed while reserving; retrying", request.item)
                continue
            return reservation, True
        raise ContentionError(
            f"Could not reserve {request.item} after {self.max_attempts} attempts"
        )

    def commit(self, order_id: str) -> tuple[Reservation, bool]:
        """The reserved stock leaves with the order (available stays as it is)."""
        return self._settle(order_id, "committed")

    def release(self, order_id: str) -> tuple[Reservation, bool]:
        """The reserved stock is available to order again."""
        return self._settle(order_id, "released")

    def _settle(self, order_id: str, state: Settlement) -> tuple[Reservation, bool]:
        """Move a reservation to its final ``state`` once, and whether this call did (False: a
        repeat). Settling one that went the other way raises ``ReservationSettledError``."""
        record_key = reservation_key(order_id)
        record = self.state.get(record_key, Reservation)
        if record.value is None:
            raise ReservationNotFoundError(order_id)
        with self._changing(record.value.item):
            return self._settle_item(order_id, record, state)

    def _settle_item(
        self, order_id: str, record: Versioned[Reservation], state: Settlement
    ) -> tuple[Reservation, bool]:
        record_key = reservation_key(order_id)
        for attempt in range(self.max_attempts):
            if attempt:
                record = self.state.get(record_key, Reservation)
            reservation = record.value
            if reservation is None:
                raise ReservationNotFoundError(order_id)
            if reservation.state == state:
                return reservation, False
            if reservation.state != "reserved":
                raise ReservationSettledError(reservation)
            stock = self.state.get(item_key(reservation.item), InventoryItem)
            if stock.value is None:
                raise RuntimeError(f"Item {reservation.item!r} of order {order_id} is gone")
            item = stock.value
            returned = reservation.quantity if state == "released" else 0
            available = item.quantity + returned
            left = _changed(item, quantity=available, reserved=item.reserved - reservation.quantity)
            final = _changed(reservation, state=state, remaining=available)
            try:
                self.state.transact(
                    [
                        Write(item_key(reservation.item), left, etag=self._etag(stock)),
                        Write(record_key, final, etag=self._etag(record)),
                    ]
                )
            except ETagConflictError:
                logger.info("Order %s's reservation changed while settling; retrying", order_id)
                continue
            return final, True
        raise ContentionError(
            f"Could not mark order {order_id}'s reservation {state} "
            f"after {self.max_attempts} attempts"
        )

    def _etag(self, versioned: Versioned[Any]) -> str:
        if versioned.etag is None:
            raise RuntimeError(
                f"State store {self.state.store_name!r} returned no ETag; "
                "inventory needs a store with ETag support"
            )
        return versioned.etag

    def close(self) -> None:
        self.state.close()
