"""Payloads of the order API: the only door into the system, and what an order's workflow
publishes of its progress (``OrderProgress``), which the API and the board read."""

from datetime import datetime
from typing import Literal, Self, get_args

from pydantic import ConfigDict, Field, StrictBool, ValidationError

from contracts.fields import (
    Amount,
    ItemName,
    OrderId,
    OrderQuantity,
    StrictModel,
    UtcDatetime,
)

# The longest the API holds a long poll (``GET /orders/<id>?wait=S``): below every usual
# proxy's idle timeout (60 s). A client asking for more is refused (422).
MAX_WAIT_SECONDS = 30

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


class StepReached(StrictModel):
    """A step and when the workflow reached it (its own replay-safe clock, UTC); ``at`` is
    None only in a trail written before steps carried their time."""

    step: Step
    at: UtcDatetime | None = None


class OrderProgress(StrictModel):
    """What an order's workflow publishes as its custom status, each time it reaches a step:
    every step so far, oldest first, so whoever reads the order only now (or between two
    quick steps) still sees each one; and the order's total once inventory has priced it.

    Read back from workflows written by other revisions: fields it does not know are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    trail: list[StepReached] = Field(default_factory=list)
    total: Amount | None = None

    def reached(self, step: Step, at: datetime) -> Self:
        return self.model_copy(update={"trail": [*self.trail, StepReached(step=step, at=at)]})

    def priced(self, total: int) -> Self:
        return self.model_copy(update={"total": total})

    @property
    def steps(self) -> list[Step]:
        return [reached.step for reached in self.trail]

    @property
    def step(self) -> Step | None:
        return self.trail[-1].step if self.trail else None

    def encode(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def decode(cls, custom_status: str | None) -> Self:
        """The progress in a workflow's custom status. Revisions before this model published
        the steps comma-joined (``verifying_inventory,awaiting_approval``), without times: an
        order placed before a deploy reads the same until its next step."""
        raw = custom_status or ""
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            known = set(get_args(Step))
            steps = [step for step in raw.strip('"').split(",") if step in known]
            return cls(trail=[StepReached.model_validate({"step": step}) for step in steps])


class OrderStatus(StrictModel):
    """Body of ``GET /orders/<id>``; ``result`` is set once the workflow has completed.

    ``step`` and ``steps`` are the trail's last step and its steps without their times, as
    clients before the trail read them."""

    order_id: OrderId
    status: RuntimeStatus
    step: Step | None = None
    steps: list[Step] = Field(default_factory=list)
    trail: list[StepReached] = Field(default_factory=list)
    # What was ordered, when, and its total once priced (before the result has it).
    item: ItemName | None = None
    quantity: OrderQuantity | None = None
    total: Amount | None = None
    placed_at: UtcDatetime | None = None
    result: OrderResult | None = None
