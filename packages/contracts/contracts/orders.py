"""Payloads of the order API and of the order-processing workflow and its activities."""

from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from contracts.fields import (
    STRICT_MODEL,
    Amount,
    ItemName,
    OrderId,
    OrderQuantity,
    StockQuantity,
    UnitPrice,
)

# -- Order API ---------------------------------------------------------------------------------

# Dapr's workflow runtime status names; STALLED and UNKNOWN are rare but possible.
RuntimeStatus = Literal[
    "PENDING", "RUNNING", "COMPLETED", "FAILED", "TERMINATED", "SUSPENDED", "STALLED", "UNKNOWN"
]

# What the workflow publishes as its custom status, so the API can say where an order is.
Step = Literal[
    "verifying_inventory",
    "awaiting_approval",
    "processing_payment",
    "updating_inventory",
    "compensating",
    "completed",
    "failed",
]

FailureReason = Literal[
    "insufficient_inventory",
    "approval_rejected",
    "approval_timeout",
    "payment_declined",
    "inventory_update_failed",
]


class OrderRequest(BaseModel):
    """Body of ``POST /orders``. Prices are never sent by the client; inventory owns them."""

    model_config = STRICT_MODEL

    item: ItemName
    quantity: OrderQuantity


class OrderAccepted(BaseModel):
    """Body of the 202 for ``POST /orders``."""

    model_config = STRICT_MODEL

    order_id: OrderId
    status: RuntimeStatus


class ApprovalDecision(BaseModel):
    """Body of ``POST /orders/<id>/approval`` and payload of the ``manager_approval`` event."""

    model_config = STRICT_MODEL

    approved: StrictBool


class ApprovalAccepted(BaseModel):
    """Body of the 202 for ``POST /orders/<id>/approval``."""

    model_config = STRICT_MODEL

    order_id: OrderId
    approved: bool


class OrderResult(BaseModel):
    """What the workflow returns. ``reason`` says why an order was not processed."""

    model_config = STRICT_MODEL

    processed: bool
    reason: FailureReason | None = None
    total: Amount | None = None


class OrderStatus(BaseModel):
    """Body of ``GET /orders/<id>``; ``result`` is set once the workflow has completed."""

    model_config = STRICT_MODEL

    order_id: OrderId
    status: RuntimeStatus
    step: Step | None = None
    result: OrderResult | None = None


# -- Workflow input ----------------------------------------------------------------------------


class OrderPayload(BaseModel):
    """The workflow's input. The approval timeout travels in it so replays stay deterministic."""

    model_config = STRICT_MODEL

    item: ItemName
    quantity: OrderQuantity
    approval_timeout_seconds: StrictInt = Field(ge=1, le=30 * 24 * 3600)


# -- Activities: one input model and one output model each --------------------------------------


class Notification(BaseModel):
    """A message for the customer; ``notify_activity`` returns it as delivered."""

    model_config = STRICT_MODEL

    order_id: OrderId
    message: str = Field(min_length=1, max_length=500)


class InventoryRequest(BaseModel):
    """Input of ``verify_inventory_activity`` and ``update_inventory_activity``."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity


class InventoryCheck(BaseModel):
    """Output of ``verify_inventory_activity``: ``reserved`` means the order's stock is now held
    for it, at ``unit_price``. ``available`` is what there was before this order's reservation;
    an unknown item has ``found`` false."""

    model_config = STRICT_MODEL

    item: ItemName
    found: bool
    reserved: bool = False
    available: StockQuantity = 0
    unit_price: UnitPrice | None = None


class InventoryUpdate(BaseModel):
    """Output of ``update_inventory_activity``; ``committed`` is false when the order's
    reservation was released meanwhile, so its stock was no longer held for it."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    committed: bool
    remaining: StockQuantity | None = None


class ReleaseRequest(BaseModel):
    """Input of ``release_inventory_activity``, the compensation for a reservation."""

    model_config = STRICT_MODEL

    order_id: OrderId


class InventoryRelease(BaseModel):
    """Output of ``release_inventory_activity``. ``released`` false means the reservation had
    been committed: the stock had already left for the order, so nothing went back."""

    model_config = STRICT_MODEL

    order_id: OrderId
    released: bool
    remaining: StockQuantity | None = None


class ApprovalRequest(BaseModel):
    """Input and output of ``request_approval_activity``."""

    model_config = STRICT_MODEL

    order_id: OrderId
    item: ItemName
    quantity: OrderQuantity
    total: Amount


class RefundRequest(BaseModel):
    """Input of ``refund_payment_activity``, the compensation for an approved payment."""

    model_config = STRICT_MODEL

    order_id: OrderId
