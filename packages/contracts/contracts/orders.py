"""Payloads of the order API: the only door into the system."""

from typing import Literal

from pydantic import BaseModel, StrictBool

from contracts.fields import (
    STRICT_MODEL,
    Amount,
    ItemName,
    OrderId,
    OrderQuantity,
)

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
