"""Payloads of the payment service's HTTP API."""

from typing import Literal

from pydantic import BaseModel

from contracts.fields import STRICT_MODEL, Amount, ItemName, OrderId, OrderQuantity

PaymentStatus = Literal["approved", "declined"]


class PaymentRequest(BaseModel):
    """Body of ``POST /payments``; ``order_id`` makes a repeat return the first outcome."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    amount: Amount


class Payment(BaseModel):
    """The outcome kept per order. ``status`` never changes; a refund sets ``refunded``."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    amount: Amount
    status: PaymentStatus
    decline_reason: str | None = None
    refunded: bool = False


class PaymentList(BaseModel):
    """Body of ``GET /payments?order_id=...``: the order's payment, or none.

    A lookup that finds nothing is a 200 with an empty list, not a 404: Dapr's circuit breaker
    counts every non-2xx answer as a failure, and a run of lookups must not open it.
    """

    model_config = STRICT_MODEL

    payments: list[Payment]
