"""Clients for the services order-processor calls, through Dapr service invocation only.

Each takes and returns shared models. Business outcomes come back as values (a refused
reservation, a declined payment: 2xx answers, so the sidecar's circuit breaker never counts
them) or as the specific exception below; transport trouble raises ``TransientError`` (worth a
retry) and anything else unexpected ``ServiceError`` (not worth one).
"""

from typing import TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from contracts.errors import ErrorBody
from contracts.inventory import (
    InventoryItem,
    InventoryList,
    Reservation,
    ReservationRequest,
    Restock,
)
from contracts.payments import Payment, PaymentList, PaymentRequest
from servicekit.invoke import DaprInvoker, ServiceError

M = TypeVar("M", bound=BaseModel)


class ReservationSettledError(Exception):
    """The order's reservation was already settled the other way: a business outcome."""


def _error_code(response: httpx.Response) -> str | None:
    try:
        return ErrorBody.model_validate_json(response.content).error
    except ValidationError:
        return None


def _parse(response: httpx.Response, model: type[M], what: str) -> M:
    if not response.is_success:
        raise ServiceError(f"{what}: HTTP {response.status_code} {response.text[:200]}")
    try:
        return model.model_validate_json(response.content)
    except ValidationError as err:
        raise ServiceError(f"{what}: unexpected response body: {err}") from err


class InventoryClient:
    def __init__(self, invoker: DaprInvoker, app_id: str = "inventory") -> None:
        self._invoker = invoker
        self.app_id = app_id

    def get_item(self, name: str) -> InventoryItem | None:
        """The item, or None when inventory does not know it."""
        query = urlencode({"name": name})
        response = self._invoker.invoke(self.app_id, "GET", f"inventory?{query}")
        found = _parse(response, InventoryList, f"look up item {name}").items
        return found[0] if found else None

    def restock(self, name: str, restock: Restock) -> InventoryItem:
        response = self._invoker.invoke(
            self.app_id, "PUT", f"inventory/{name}", json=restock.model_dump(mode="json")
        )
        return _parse(response, InventoryItem, f"restock {name}")

    def list_items(self) -> InventoryList:
        response = self._invoker.invoke(self.app_id, "GET", "inventory")
        return _parse(response, InventoryList, "list items")

    def reserve(self, request: ReservationRequest) -> Reservation:
        """Hold stock for an order, once per order id: the reservation, or a ``refused`` one
        (too little stock, unknown item) that holds nothing."""
        response = self._invoker.invoke(
            self.app_id, "POST", "reservations", json=request.model_dump(mode="json")
        )
        return _parse(response, Reservation, f"reserve {request.item}")

    def commit(self, order_id: str) -> Reservation:
        """The order's reserved stock leaves; ``ReservationSettledError`` if it was released."""
        return self._settle(order_id, "commit", "released")

    def release(self, order_id: str) -> Reservation:
        """The order's reserved stock is available again; ``ReservationSettledError`` if it was
        committed."""
        return self._settle(order_id, "release", "committed")

    def _settle(self, order_id: str, action: str, other_way: str) -> Reservation:
        # A missing reservation is a fault, not an outcome: the order's verification made it.
        response = self._invoker.invoke(self.app_id, "POST", f"reservations/{order_id}/{action}")
        if not response.is_success and _error_code(response) == f"reservation_{other_way}":
            raise ReservationSettledError(response.text[:200])
        return _parse(response, Reservation, f"{action} order {order_id}'s reservation")


class PaymentClient:
    def __init__(self, invoker: DaprInvoker, app_id: str = "payment") -> None:
        self._invoker = invoker
        self.app_id = app_id

    def charge(self, request: PaymentRequest) -> Payment:
        """The order's payment, approved or declined; a repeat returns the first outcome."""
        response = self._invoker.invoke(
            self.app_id, "POST", "payments", json=request.model_dump(mode="json")
        )
        return _parse(response, Payment, f"charge order {request.order_id}")

    def get(self, order_id: str) -> Payment | None:
        """The order's payment, or None when the order was never charged."""
        query = urlencode({"order_id": order_id})
        response = self._invoker.invoke(self.app_id, "GET", f"payments?{query}")
        found = _parse(response, PaymentList, f"look up the payment of order {order_id}").payments
        return found[0] if found else None

    def refund(self, order_id: str) -> Payment:
        """Refund the order's approved payment; a repeat returns the refunded payment."""
        response = self._invoker.invoke(self.app_id, "POST", f"payments/{order_id}/refund")
        return _parse(response, Payment, f"refund order {order_id}")
