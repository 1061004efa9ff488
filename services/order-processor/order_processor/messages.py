"""The workflow's own inputs and outputs: they never leave order-processor.

What crosses a service boundary (the order API, inventory's reservations, payment's charges)
lives in ``contracts`` and passes through the workflow as it is. These models are read back
from workflow history, so they ignore fields an earlier version wrote and no longer has: an
order placed before a deploy still completes after it.
"""

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from contracts.fields import Amount, ItemName, OrderId, OrderQuantity, StockQuantity, UnitPrice

HISTORY_MODEL = ConfigDict(extra="ignore", frozen=True)


class OrderPayload(BaseModel):
    """The workflow's input. The approval timeout travels in it so replays stay deterministic."""

    model_config = HISTORY_MODEL

    item: ItemName
    quantity: OrderQuantity
    approval_timeout_seconds: StrictInt = Field(ge=1, le=30 * 24 * 3600)


class Notification(BaseModel):
    """A message for the customer; the notify activity returns it as delivered."""

    model_config = HISTORY_MODEL

    order_id: OrderId
    message: str = Field(min_length=1, max_length=500)


class InventoryCheck(BaseModel):
    """Verifying the order: ``reserved`` means its stock is now held for it, at ``unit_price``
    (None for an unknown item); ``available`` is what is left to order."""

    model_config = HISTORY_MODEL

    reserved: bool = False
    available: StockQuantity = 0
    unit_price: UnitPrice | None = None


class ApprovalRequest(BaseModel):
    """Input and output of the approval request."""

    model_config = HISTORY_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    total: Amount


class InventoryUpdate(BaseModel):
    """Committing the order's stock; ``committed`` is false when its reservation was released
    meanwhile, so the stock was no longer held for it."""

    model_config = HISTORY_MODEL

    committed: bool


class ReleaseRequest(BaseModel):
    """Input of the release, the compensation for a reservation."""

    model_config = HISTORY_MODEL

    order_id: OrderId


class InventoryRelease(BaseModel):
    """``released`` false means the reservation had been committed: the stock had already left
    for the order, so nothing went back."""

    model_config = HISTORY_MODEL

    released: bool


class RefundRequest(BaseModel):
    """Input of the refund, the compensation for an approved payment."""

    model_config = HISTORY_MODEL

    order_id: OrderId
