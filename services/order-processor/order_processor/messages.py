"""The workflow's own inputs and outputs: they never leave order-processor.

What crosses a service boundary (the order API, inventory's reservations, payment's charges)
lives in ``contracts`` and passes through the workflow as it is. These models are read back
from workflow history, so they ignore fields an earlier version wrote and no longer has: an
order placed before a deploy still completes after it.
"""

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from contracts.fields import Amount, ItemName, OrderId, OrderQuantity, StockQuantity, UnitPrice


class HistoryModel(BaseModel):
    """A message kept in workflow history: fields it no longer has are ignored on the way
    back in, and once parsed it does not change."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class OrderPayload(HistoryModel):
    """The workflow's input. The approval timeout travels in it so replays stay deterministic."""

    item: ItemName
    quantity: OrderQuantity
    approval_timeout_seconds: StrictInt = Field(ge=1, le=30 * 24 * 3600)


class Notification(HistoryModel):
    """A message for the customer; the notify activity returns it as delivered."""

    order_id: OrderId
    message: str = Field(min_length=1, max_length=500)


class InventoryCheck(HistoryModel):
    """Verifying the order: ``reserved`` means its stock is now held for it, at ``unit_price``
    (None for an unknown item); ``available`` is what is left to order."""

    reserved: bool = False
    available: StockQuantity = 0
    unit_price: UnitPrice | None = None


class ApprovalRequest(HistoryModel):
    """Input and output of the approval request."""

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    total: Amount


class InventoryUpdate(HistoryModel):
    """Committing the order's stock; ``committed`` is false when its reservation was released
    meanwhile, so the stock was no longer held for it."""

    committed: bool


class ReleaseRequest(HistoryModel):
    """Input of the release, the compensation for a reservation."""

    order_id: OrderId


class InventoryRelease(HistoryModel):
    """``released`` false means the reservation had been committed: the stock had already left
    for the order, so nothing went back."""

    released: bool


class RefundRequest(HistoryModel):
    """Input of the refund, the compensation for an approved payment."""

    order_id: OrderId
