"""Placing and following orders through the Dapr workflow client, and how a workflow's
runtime status and custom status map onto the order API."""

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast, get_args

import grpc
from dapr.ext.workflow import DaprWorkflowClient, WorkflowState, WorkflowStatus
from dapr.ext.workflow.logger import LoggerOptions
from pydantic import ValidationError

from contracts.orders import (
    ApprovalDecision,
    OrderAccepted,
    OrderRequest,
    OrderResult,
    OrderStatus,
    RuntimeStatus,
    Step,
)
from order_processor import names, torn_reads
from order_processor.messages import OrderPayload
from order_processor.workflow import APPROVAL_EVENT
from servicekit import logs, tracing

# Fixed forever: changing it would turn every retried request into a new order.
IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0c1b7e-3f0a-4c56-9a51-0d6f3e1a2c47")

# An instance id no order ever has (order ids are hex): asking for it costs one lookup.
READINESS_PROBE_ID = "readiness-probe"

logger = logging.getLogger("order_processor.service")


class WorkflowClient(Protocol):
    """The part of ``DaprWorkflowClient`` the service uses."""

    def schedule_new_workflow(
        self, workflow: Any, *, input: Any = None, instance_id: str | None = None
    ) -> str: ...

    def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...

    def wait_for_workflow_completion(
        self, instance_id: str, *, fetch_payloads: bool = True, timeout_in_seconds: int = 0
    ) -> WorkflowState | None: ...

    def raise_workflow_event(
        self, instance_id: str, event_name: str, *, data: Any = None
    ) -> Any: ...

    def close(self) -> Any: ...


class OrderNotFoundError(Exception):
    pass


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was already used for a different order."""


class NotAwaitingApprovalError(Exception):
    pass


def dapr_workflow_client() -> WorkflowClient:
    torn_reads.quiet_sdk_log()
    # Its INFO lines ("Starting new ... instance", "Waiting up to 30s ...", "Instance ...
    # completed.") repeat ours, one to three per order and long poll, each a write to stdout.
    logging.getLogger("durabletask-client").setLevel(logging.WARNING)
    # Records go to the root logger (our format and context), not to a second handler.
    client: WorkflowClient = DaprWorkflowClient(
        logger_options=LoggerOptions(log_handler=logging.NullHandler())
    )
    return client


def order_id_for(idempotency_key: str) -> str:
    """The same key always names the same workflow instance."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key).hex


_RUNTIME_STATUSES = frozenset(get_args(RuntimeStatus))
_STEPS = frozenset(get_args(Step))


def _runtime_status(state: WorkflowState) -> RuntimeStatus:
    name = state.runtime_status.name
    return cast(RuntimeStatus, name) if name in _RUNTIME_STATUSES else "UNKNOWN"


def _steps(state: WorkflowState) -> list[Step]:
    """The steps the workflow has published, oldest first (workflow.Progress)."""
    published = (state.serialized_custom_status or "").split(",")
    return [cast(Step, step) for step in published if step in _STEPS]


def _step(state: WorkflowState) -> Step | None:
    steps = _steps(state)
    return steps[-1] if steps else None


def order_status(order_id: str, state: WorkflowState) -> OrderStatus:
    """What the API says of an order, from its workflow's state."""
    result = None
    if state.runtime_status == WorkflowStatus.COMPLETED and state.serialized_output:
        result = OrderResult.model_validate_json(state.serialized_output)
    steps = _steps(state)
    return OrderStatus(
        order_id=order_id,
        status=_runtime_status(state),
        step=steps[-1] if steps else None,
        steps=steps,
        result=result,
    )


class OrderService:
    def __init__(
        self,
        *,
        approval_timeout_seconds: int,
        client_factory: Callable[[], WorkflowClient] = dapr_workflow_client,
        torn_read_retry_delays_s: Sequence[float] = torn_reads.RETRY_DELAYS_S,
    ) -> None:
        self.approval_timeout_seconds = approval_timeout_seconds
        self._client_factory = client_factory
        self._torn_read_retry_delays_s = tuple(torn_read_retry_delays_s)
        self._client: WorkflowClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> WorkflowClient:
        # Created on first use: no gRPC channel at import, in the gunicorn master, or in tests.
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

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
                self.client.schedule_new_workflow(
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

    def _state(self, order_id: str) -> WorkflowState | None:
        """The workflow's state, read again while a read races the workflow's own save."""
        return torn_reads.read(
            lambda: self.client.get_workflow_state(order_id, fetch_payloads=True),
            self._torn_read_retry_delays_s,
        )

    def _existing(self, order_id: str, request: OrderRequest) -> OrderAccepted | None:
        state = self._state(order_id)
        if state is None:
            return None
        try:
            first = OrderPayload.model_validate_json(state.serialized_input or "")
        except ValidationError:
            first = None
        if first is None or (first.item, first.quantity) != (request.item, request.quantity):
            raise IdempotencyConflictError(order_id)
        return OrderAccepted(order_id=order_id, status=_runtime_status(state))

    def status(self, order_id: str) -> OrderStatus:
        state = self._state(order_id)
        if state is None:
            raise OrderNotFoundError(order_id)
        return order_status(order_id, state)

    def decide_approval(self, order_id: str, decision: ApprovalDecision) -> None:
        """Deliver a manager's decision to an order that is waiting for one."""
        state = self._state(order_id)
        if state is None:
            raise OrderNotFoundError(order_id)
        if state.runtime_status != WorkflowStatus.RUNNING or _step(state) != "awaiting_approval":
            raise NotAwaitingApprovalError(
                f"Order {order_id} is not waiting for approval "
                f"(status {_runtime_status(state)}, step {_step(state)})"
            )
        self.client.raise_workflow_event(order_id, APPROVAL_EVENT, data=decision)
        logger.info("Approval decision for order %s: approved=%s", order_id, decision.approved)

    def wait_for_completion(self, order_id: str, *, timeout_seconds: int) -> WorkflowState:
        """The workflow's state once it has ended; ``TimeoutError`` after ``timeout_seconds``
        (the long poll, order_processor.watch)."""
        state = self.client.wait_for_workflow_completion(
            order_id, fetch_payloads=True, timeout_in_seconds=timeout_seconds
        )
        if state is None:
            raise OrderNotFoundError(order_id)
        return state

    def reaches_engine(self) -> bool:
        """Whether the workflow engine answers this process's client now. After a sidecar
        restart gRPC holds the channel in reconnect backoff for a while, so readiness asks."""
        try:
            self.client.get_workflow_state(READINESS_PROBE_ID, fetch_payloads=False)
        except grpc.RpcError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
