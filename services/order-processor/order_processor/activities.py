"""The workflow's activities: each takes one model, returns one model, and is safe to repeat.

Activities run at least once, so every side effect is keyed by the order id (the workflow
instance id) and the services make a repeat harmless. Business outcomes (declined, out of
stock) are returned as data; only transient failures are raised as-is, for the workflow's
retry policy. Anything else is raised as ``NonRetryableError`` so it is not retried.
The logger names and messages are the seed quickstart's.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dapr.ext.workflow import WorkflowActivityContext
from dapr.ext.workflow._durabletask.task import NonRetryableError

from contracts.inventory import WithdrawalRequest
from contracts.orders import (
    ApprovalRequest,
    InventoryCheck,
    InventoryRequest,
    InventoryUpdate,
    Notification,
    RefundRequest,
)
from contracts.payments import Payment, PaymentRequest
from order_processor.clients import InventoryClient, PaymentClient, StockUnavailableError
from servicekit import logs, tracing
from servicekit.invoke import TransientError


@dataclass(frozen=True)
class ActivityClients:
    inventory: InventoryClient
    payment: PaymentClient


_clients: ActivityClients | None = None


def configure(clients: ActivityClients | None) -> None:
    """Give the activities their clients; done when the workflow worker starts."""
    global _clients  # noqa: PLW0603 - activities are plain functions the runtime calls
    _clients = clients


def _deps() -> ActivityClients:
    if _clients is None:
        raise RuntimeError("activities used before order_processor.activities.configure()")
    return _clients


@contextmanager
def _activity(ctx: WorkflowActivityContext) -> Iterator[None]:
    """Log and trace with the order id, and let only transient failures be retried."""
    # The SDK runs each activity in a span of the order's trace; tag it with the order.
    tracing.tag_order(ctx.workflow_id)
    with logs.log_context(order_id=ctx.workflow_id):
        try:
            yield
        except TransientError:
            raise
        except Exception as err:
            raise NonRetryableError(f"{type(err).__name__}: {err}") from err


def notify_activity(ctx: WorkflowActivityContext, notification: Notification) -> Notification:
    with _activity(ctx):
        logging.getLogger("NotifyActivity").info(notification.message)
    return notification


def verify_inventory_activity(
    ctx: WorkflowActivityContext, request: InventoryRequest
) -> InventoryCheck:
    logger = logging.getLogger("VerifyInventoryActivity")
    with _activity(ctx):
        logger.info(
            "Verifying inventory for order %s of %d %s",
            request.order_id,
            request.quantity,
            request.item,
        )
        item = _deps().inventory.get_item(request.item)
        if item is None:
            logger.info("There are no %s in the inventory", request.item)
            return InventoryCheck(item=request.item, found=False)
        logger.info("There are %d %s available for purchase", item.quantity, item.name.capitalize())
        return InventoryCheck(
            item=item.name, found=True, in_stock=item.quantity, unit_price=item.unit_price
        )


def request_approval_activity(
    ctx: WorkflowActivityContext, request: ApprovalRequest
) -> ApprovalRequest:
    with _activity(ctx):
        logging.getLogger("RequestApprovalActivity").info(
            "Requesting approval for payment of %d USD for %d %s",
            request.total,
            request.quantity,
            request.item,
        )
    return request


def process_payment_activity(ctx: WorkflowActivityContext, request: PaymentRequest) -> Payment:
    logger = logging.getLogger("ProcessPaymentActivity")
    with _activity(ctx):
        logger.info(
            "Processing payment: %s for %d %s at %d USD",
            request.order_id,
            request.quantity,
            request.item,
            request.amount,
        )
        payment = _deps().payment.charge(request)
        if payment.status == "approved":
            logger.info("Payment for request ID %s processed successfully", request.order_id)
        else:
            logger.info(
                "Payment for request ID %s was declined: %s",
                request.order_id,
                payment.decline_reason,
            )
            tracing.record_failure(f"payment declined: {payment.decline_reason}")
        return payment


def update_inventory_activity(
    ctx: WorkflowActivityContext, request: InventoryRequest
) -> InventoryUpdate:
    logger = logging.getLogger("UpdateInventoryActivity")
    with _activity(ctx):
        logger.info(
            "Checking inventory for order %s for %d %s",
            request.order_id,
            request.quantity,
            request.item,
        )
        try:
            withdrawal = _deps().inventory.withdraw(
                request.item,
                WithdrawalRequest(order_id=request.order_id, quantity=request.quantity),
            )
        except StockUnavailableError as err:
            logger.warning("Insufficient inventory for order %s: %s", request.order_id, err)
            return InventoryUpdate(
                order_id=request.order_id,
                item=request.item,
                quantity=request.quantity,
                taken=False,
            )
        logger.info("There are now %d %s left in stock", withdrawal.remaining, request.item)
        return InventoryUpdate(
            order_id=request.order_id,
            item=request.item,
            quantity=request.quantity,
            taken=True,
            remaining=withdrawal.remaining,
        )


def refund_payment_activity(ctx: WorkflowActivityContext, request: RefundRequest) -> Payment:
    logger = logging.getLogger("RefundPaymentActivity")
    with _activity(ctx):
        logger.info("Refunding payment for order %s", request.order_id)
        payment = _deps().payment.refund(request.order_id)
        logger.info("Payment of %d USD for order %s refunded", payment.amount, request.order_id)
        return payment


# Registered under their function names, which the workflow and the seed use.
ACTIVITIES = (
    notify_activity,
    verify_inventory_activity,
    request_approval_activity,
    process_payment_activity,
    update_inventory_activity,
    refund_payment_activity,
)
