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

from dapr.ext.workflow import WorkflowActivityContext

# Stands in for a public way to fail an activity for good, which dapr-ext-workflow 1.18 does
# not export (no upstream issue found); the runtime recognises the error by this type name.
from dapr.ext.workflow._durabletask.task import NonRetryableError

from contracts.inventory import ReservationRequest
from contracts.payments import Payment, PaymentRequest
from order_processor.clients import InventoryClient, PaymentClient, ReservationSettledError
from order_processor.messages import (
    ApprovalRequest,
    InventoryCheck,
    InventoryRelease,
    InventoryUpdate,
    Notification,
    RefundRequest,
    ReleaseRequest,
)
from servicekit import logs, tracing
from servicekit.invoke import TransientError


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


class OrderActivities:
    """The activities, built with the clients they call; the worker registers the methods."""

    def __init__(self, inventory: InventoryClient, payment: PaymentClient) -> None:
        self.inventory = inventory
        self.payment = payment

    def notify(self, ctx: WorkflowActivityContext, notification: Notification) -> Notification:
        with _activity(ctx):
            logging.getLogger("NotifyActivity").info(notification.message)
        return notification

    def verify_inventory(
        self, ctx: WorkflowActivityContext, request: ReservationRequest
    ) -> InventoryCheck:
        """Reserve the order's stock: verified stock is held, so orders racing for the last
        units cannot all pass and all be charged. One call: a refusal says what is available."""
        logger = logging.getLogger("VerifyInventoryActivity")
        with _activity(ctx):
            logger.info(
                "Verifying inventory for order %s of %d %s",
                request.order_id,
                request.quantity,
                request.item,
            )
            reservation = self.inventory.reserve(request)
            if reservation.refusal == "unknown_item":
                logger.info("There are no %s in the inventory", reservation.item)
                return InventoryCheck()
            reserved = reservation.state != "refused"
            # The seed's line says what there was before this order: a refusal held nothing.
            before = reservation.remaining + (reservation.quantity if reserved else 0)
            logger.info(
                "There are %d %s available for purchase", before, reservation.item.capitalize()
            )
            return InventoryCheck(
                reserved=reserved,
                available=reservation.remaining,
                unit_price=reservation.unit_price,
            )

    def request_approval(
        self, ctx: WorkflowActivityContext, request: ApprovalRequest
    ) -> ApprovalRequest:
        with _activity(ctx):
            logging.getLogger("RequestApprovalActivity").info(
                "Requesting approval for payment of %d USD for %d %s",
                request.total,
                request.quantity,
                request.item,
            )
        return request

    def process_payment(self, ctx: WorkflowActivityContext, request: PaymentRequest) -> Payment:
        logger = logging.getLogger("ProcessPaymentActivity")
        with _activity(ctx):
            logger.info(
                "Processing payment: %s for %d %s at %d USD",
                request.order_id,
                request.quantity,
                request.item,
                request.amount,
            )
            payment = self.payment.charge(request)
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

    def update_inventory(
        self, ctx: WorkflowActivityContext, request: ReservationRequest
    ) -> InventoryUpdate:
        """Commit the order's reservation: its stock leaves."""
        logger = logging.getLogger("UpdateInventoryActivity")
        with _activity(ctx):
            logger.info(
                "Checking inventory for order %s for %d %s",
                request.order_id,
                request.quantity,
                request.item,
            )
            try:
                reservation = self.inventory.commit(request.order_id)
            except ReservationSettledError as err:
                logger.warning("Reservation for order %s is gone: %s", request.order_id, err)
                return InventoryUpdate(committed=False)
            logger.info("There are now %d %s left in stock", reservation.remaining, request.item)
            return InventoryUpdate(committed=True)

    def release_inventory(
        self, ctx: WorkflowActivityContext, request: ReleaseRequest
    ) -> InventoryRelease:
        """Compensation: give the order's reserved stock back to what is available."""
        logger = logging.getLogger("ReleaseInventoryActivity")
        with _activity(ctx):
            logger.info("Releasing inventory reserved for order %s", request.order_id)
            try:
                reservation = self.inventory.release(request.order_id)
            except ReservationSettledError as err:
                logger.warning(
                    "Inventory for order %s was already committed; nothing to release: %s",
                    request.order_id,
                    err,
                )
                return InventoryRelease(released=False)
            logger.info(
                "Released %d %s for order %s; %d available",
                reservation.quantity,
                reservation.item,
                request.order_id,
                reservation.remaining,
            )
            return InventoryRelease(released=True)

    def refund_payment(self, ctx: WorkflowActivityContext, request: RefundRequest) -> Payment:
        logger = logging.getLogger("RefundPaymentActivity")
        with _activity(ctx):
            logger.info("Refunding payment for order %s", request.order_id)
            payment = self.payment.refund(request.order_id)
            logger.info("Payment of %d USD for order %s refunded", payment.amount, request.order_id)
            return payment
