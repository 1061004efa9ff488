"""Payloads of the payment service's HTTP API."""

from typing import Literal

from contracts.fields import Amount, ItemName, OrderId, OrderQuantity, StrictModel

PaymentStatus = Literal["approved", "declined"]


class PaymentRequest(StrictModel):
    """Body of ``POST /payments``; ``order_id`` makes a repeat return the first outcome."""

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    amount: Amount


class Payment(StrictModel):
    """The outcome kept per order. ``status`` never changes; a refund sets ``refunded``."""

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    amount: Amount
    status: PaymentStatus
    decline_reason: str | None = None
    refunded: bool = False


class PaymentList(StrictModel):
    """Body of ``GET /payments?order_id=...``: the order's payment, or none.

    A lookup that finds nothing is a 200 with an empty list, not a 404: Dapr's circuit breaker
    counts every non-2xx answer as a failure, and a run of lookups must not open it.
    """

    payments: list[Payment]
