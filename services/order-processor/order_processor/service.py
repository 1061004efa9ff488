"""Placing orders and deciding approvals through the Dapr workflow client; reading them is
``following``'s."""

import logging
import uuid

from dapr.ext.workflow import WorkflowStatus

from contracts.orders import ApprovalDecision, OrderAccepted, OrderRequest
from order_processor import names
from order_processor.engine import Engine
from order_processor.following.reads import (
    OrderNotFoundError,
    OrderReader,
    order_payload,
    order_status,
    runtime_status,
)
from order_processor.messages import OrderPayload
from servicekit import logs, tracing

# Fixed forever: changing it would turn every retried request into a new order.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c1b7e-3f0a-4c56-9a51-0d6f3e1a2c47")

logger = logging.getLogger("order_processor.service")


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was already used for a different order."""


class NotAwaitingApprovalError(Exception):
    pass


def order_id_for(idempotency_key: str) -> str:
    """The same key always names the same workflow instance."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key).hex


class OrderService:
    def __init__(self, engine: Engine, reader: OrderReader, *, approval_timeout_seconds: int):
        self._engine = engine
        self._reader = reader
        self.approval_timeout_seconds = approval_timeout_seconds

    def place(self, request: OrderRequest, *, idempotency_key: str | None = None) -> OrderAccepted:
        """Start the workflow; with a key, a repeat returns the order the key first created."""
        if idempotency_key is None:
            order_id = uuid.uuid4().hex
        else:
            order_id = order_id_for(idempotency_key)
            existing = self._existing(order_id, request)
            if existing is not None:
                return existing
        payload = OrderPayload(
            item=request.item,
            quantity=request.quantity,
            approval_timeout_seconds=self.approval_timeout_seconds,
        )
        # The span that starts the workflow is the root of the order's trace; the gRPC call
        # below hands its context to the workflow engine, and from there to every activity.
        tracing.tag_order(order_id)
        with logs.log_context(order_id=order_id):
            try:
                self._engine.client.schedule_new_workflow(
                    names.WORKFLOW, input=payload, instance_id=order_id
                )
            except Exception:
                # A concurrent request with the same key may have scheduled it first.
                existing = self._existing(order_id, request) if idempotency_key else None
                if existing is None:
                    raise
                return existing
            logger.info("Order %s placed: %d %s", order_id, request.quantity, request.item)
        return OrderAccepted(order_id=order_id, status="PENDING")

    def _existing(self, order_id: str, request: OrderRequest) -> OrderAccepted | None:
        state = self._reader.state(order_id)
        if state is None:
            return None
        first = order_payload(state)
        if first is None or (first.item, first.quantity) != (request.item, request.quantity):
            raise IdempotencyConflictError(order_id)
        return OrderAccepted(order_id=order_id, status=runtime_status(state))

    def decide_approval(self, order_id: str, decision: ApprovalDecision) -> None:
        """Deliver a manager's decision to an order that is waiting for one."""
        state = self._reader.state(order_id)
        if state is None:
            raise OrderNotFoundError(order_id)
        order = order_status(order_id, state)
        if state.runtime_status != WorkflowStatus.RUNNING or order.step != "awaiting_approval":
            raise NotAwaitingApprovalError(
                f"Order {order_id} is not waiting for approval "
                f"(status {order.status}, step {order.step})"
            )
        self._engine.client.raise_workflow_event(order_id, names.APPROVAL_EVENT, data=decision)
        logger.info("Approval decision for order %s: approved=%s", order_id, decision.approved)
