"""The order-processing workflow: the business process, top to bottom.

A saga: verifying the order reserves its stock, and every way out after that releases it;
once paid, a failed inventory update also refunds the payment.

Activities are called by their registered names (``names``), so this module knows neither
the activities nor the clients they call. Deterministic by construction: no I/O, clock or
randomness here (the approval timeout comes
in the input; timers are relative to the workflow's own clock). Logging only when not
replaying. Every business outcome ends the workflow with an ``OrderResult``; only a failed
compensation fails the workflow itself, because that needs a person.

Retry budget of this layer (delay before attempt n+1 is ``first_retry_interval *
backoff_coefficient ** (n - 1)``, capped at ``max_retry_interval``):

- ``RETRY`` (forward steps, notifications): 9 attempts, waits 1+2+4+8+16+30+30+30 = 121 s,
  enough to ride out a dependency's pod being replaced on Kubernetes (rescheduled, its sidecar
  started, ready), which a one-minute budget did not always cover.
- ``COMPENSATION_RETRY`` (release, refund): 10 attempts, waits summing to 243 s.

Only transient failures are retried (connection errors, timeouts, 5xx, 429); business outcomes
are data, and a 2xx on the wire too (Dapr's circuit breaker counts every non-2xx). Each attempt
is one call through the sidecar, which retries it under its own Resiliency policy: the two
layers multiply, and docs/reliability.md writes the product down.
"""

import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

from dapr.ext.workflow import DaprWorkflowContext, RetryPolicy, TaskFailedError, when_any
from pydantic import ValidationError

from contracts.inventory import ReservationRequest
from contracts.orders import ApprovalDecision, FailureReason, OrderResult
from contracts.payments import Payment, PaymentRequest
from order_processor import names
from order_processor.following.publish import Progress
from order_processor.messages import (
    ApprovalRequest,
    InventoryCheck,
    InventoryRelease,
    InventoryUpdate,
    Notification,
    OrderPayload,
    RefundRequest,
    ReleaseRequest,
)
from servicekit import logs

APPROVAL_THRESHOLD_USD = 50_000

# Activities raise only transient failures (others are NonRetryableError), so retrying is
# always worth it, within bounds: about two minutes, then the workflow decides.
RETRY = RetryPolicy(
    first_retry_interval=timedelta(seconds=1),
    max_number_of_attempts=9,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=30),
)
# A compensation must not be given up lightly: a refund (the customer has paid for nothing) or
# a release (stock held for an order that will never take it).
COMPENSATION_RETRY = RetryPolicy(
    first_retry_interval=timedelta(seconds=1),
    max_number_of_attempts=10,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(minutes=1),
)

logger = logging.getLogger(names.WORKFLOW)

Steps = Generator[Any, Any, OrderResult]


def order_processing_workflow(ctx: DaprWorkflowContext, order: OrderPayload) -> Steps:
    order_id = ctx.instance_id
    progress = Progress(ctx)
    # What verifying reserves is what updating the inventory commits.
    reservation = ReservationRequest(order_id=order_id, item=order.item, quantity=order.quantity)

    # Verifying reserves: from here on the order's stock is held for it.
    progress.reach("verifying_inventory")
    check = InventoryCheck.model_validate(
        (yield ctx.call_activity(names.VERIFY_INVENTORY, input=reservation, retry_policy=RETRY))
    )
    if not check.reserved or check.unit_price is None:
        yield from _notify(
            ctx,
            f"Insufficient inventory for order {order_id}: {order.quantity} {order.item} "
            f"requested, {check.available} available",
        )
        return _not_processed(ctx, progress, "insufficient_inventory")

    # Inventory owns prices; the client never sends one.
    total = order.quantity * check.unit_price
    progress.priced(total)
    yield from _notify(
        ctx, f"Received order {order_id} for {order.quantity} {order.item} at ${total} !"
    )

    if total > APPROVAL_THRESHOLD_USD:
        yield ctx.call_activity(
            names.REQUEST_APPROVAL,
            input=ApprovalRequest(
                order_id=order_id, item=order.item, quantity=order.quantity, total=total
            ),
            retry_policy=RETRY,
        )
        progress.reach("awaiting_approval")
        _log(ctx, "Order %s is waiting for a manager's approval", order_id)
        approval = ctx.wait_for_external_event(names.APPROVAL_EVENT)
        timeout = ctx.create_timer(timedelta(seconds=order.approval_timeout_seconds))
        winner = yield when_any([approval, timeout])
        if winner is not approval:
            yield from _release(ctx, progress)
            yield from _notify(ctx, f"Approval for order {order_id} timed out")
            return _not_processed(ctx, progress, "approval_timeout", total)
        if not _approved(approval.get_result()):
            yield from _release(ctx, progress)
            yield from _notify(ctx, f"Order {order_id} was rejected by the manager")
            return _not_processed(ctx, progress, "approval_rejected", total)

    progress.reach("processing_payment")
    payment = Payment.model_validate(
        (
            yield ctx.call_activity(
                names.PROCESS_PAYMENT,
                input=PaymentRequest(
                    order_id=order_id, item=order.item, quantity=order.quantity, amount=total
                ),
                retry_policy=RETRY,
            )
        )
    )
    if payment.status != "approved":
        yield from _release(ctx, progress)
        yield from _notify(ctx, f"Payment for order {order_id} was declined")
        return _not_processed(ctx, progress, "payment_declined", total)

    progress.reach("updating_inventory")
    try:
        update: InventoryUpdate | None = InventoryUpdate.model_validate(
            (yield ctx.call_activity(names.UPDATE_INVENTORY, input=reservation, retry_policy=RETRY))
        )
    except TaskFailedError:
        update = None
    if update is None or not update.committed:
        # Release first: if the commit did land (only its answer was lost), the stock has
        # left for this order, which is then complete; refunding it would give it away.
        release = yield from _release(ctx, progress)
        if release.released:
            # Nobody pays for stock we could not take.
            yield ctx.call_activity(
                names.REFUND_PAYMENT,
                input=RefundRequest(order_id=order_id),
                retry_policy=COMPENSATION_RETRY,
            )
            yield from _notify(ctx, f"Order {order_id} Failed!")
            return _not_processed(ctx, progress, "inventory_update_failed", total)
        _log(ctx, "Order %s's stock was committed after all", order_id)

    yield from _notify(ctx, f"Order {order_id} has completed!")
    progress.reach("completed")
    return OrderResult(processed=True, total=total)


def _release(ctx: DaprWorkflowContext, progress: Progress) -> Generator[Any, Any, InventoryRelease]:
    """Compensate the reservation made by verifying the order."""
    progress.reach("compensating")
    return InventoryRelease.model_validate(
        (
            yield ctx.call_activity(
                names.RELEASE_INVENTORY,
                input=ReleaseRequest(order_id=ctx.instance_id),
                retry_policy=COMPENSATION_RETRY,
            )
        )
    )


def _notify(ctx: DaprWorkflowContext, message: str) -> Generator[Any, Any, None]:
    yield ctx.call_activity(
        names.NOTIFY,
        input=Notification(order_id=ctx.instance_id, message=message),
        retry_policy=RETRY,
    )


def _approved(payload: object) -> bool:
    """A malformed decision (the event can be raised around the API) counts as a rejection."""
    try:
        return ApprovalDecision.model_validate(payload).approved
    except ValidationError:
        return False


def _not_processed(
    ctx: DaprWorkflowContext, progress: Progress, reason: FailureReason, total: int | None = None
) -> OrderResult:
    progress.reach("failed")
    _log(ctx, "Order %s not processed: %s", ctx.instance_id, reason)
    return OrderResult(processed=False, reason=reason, total=total)


def _log(ctx: DaprWorkflowContext, message: str, *args: object) -> None:
    if not ctx.is_replaying:
        with logs.log_context(order_id=ctx.instance_id):
            logger.info(message, *args)
