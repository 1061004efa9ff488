"""Payloads of the order API: the only door into the system."""

from typing import Literal

from pydantic import Field, StrictBool

from contracts.fields import (
    Amount,
    ItemName,
    OrderId,
    OrderQuantity,
    StrictModel,
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


class OrderRequest(StrictModel):
    """Body of ``POST /orders``. Prices are never sent by the client; inventory owns them."""

    item: ItemName
    quantity: OrderQuantity


class OrderAccepted(StrictModel):
    """Body of the 202 for ``POST /orders``."""

    order_id: OrderId
    status: RuntimeStatus


class ApprovalDecision(StrictModel):
    """Body of ``POST /orders/<id>/approval`` and payload of the ``manager_approval`` event."""

    approved: StrictBool


class ApprovalAccepted(StrictModel):
    """Body of the 202 for ``POST /orders/<id>/approval``."""

    order_id: OrderId
    approved: bool


class OrderResult(StrictModel):
    """What the workflow returns. ``reason`` says why an order was not processed."""

    processed: bool
    reason: FailureReason | None = None
    total: Amount | None = None


class OrderStatus(StrictModel):
    """Body of ``GET /orders/<id>``; ``result`` is set once the workflow has completed."""

    order_id: OrderId
    status: RuntimeStatus
    step: Step | None = None
    # Every step reached so far, oldest first; ``step`` is the last. Someone who reads the
    # order only now, or between two quick steps, still sees each one.
    steps: list[Step] = Field(default_factory=list)
    result: OrderResult | None = None
