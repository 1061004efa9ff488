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
