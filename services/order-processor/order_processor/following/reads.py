"""Reading an order from daprd: its workflow's state as the order API's ``OrderStatus``.

Every read goes through ``torn_reads``. An ended order never changes again, so the board's
listing keeps what it read of ended ones and reads again only the orders still running.
"""

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast, get_args

from dapr.ext.workflow import WorkflowState, WorkflowStatus
from pydantic import ValidationError

from contracts.orders import OrderProgress, OrderResult, OrderStatus, RuntimeStatus
from order_processor.engine import Engine
from order_processor.following import torn_reads
from order_processor.messages import OrderPayload

ENDED = frozenset({"COMPLETED", "FAILED", "TERMINATED"})
# Ended orders the listing remembers (an order's status is well under 1 KiB).
ENDED_KEPT = 5000

_RUNTIME_STATUSES = frozenset(get_args(RuntimeStatus))


class OrderNotFoundError(Exception):
    pass


def runtime_status(state: WorkflowState) -> RuntimeStatus:
    name = state.runtime_status.name
    return cast(RuntimeStatus, name) if name in _RUNTIME_STATUSES else "UNKNOWN"


def order_payload(state: WorkflowState) -> OrderPayload | None:
    """What was ordered (the workflow's input); None if it is not an order's."""
    try:
        return OrderPayload.model_validate_json(state.serialized_input or "")
    except ValidationError:
        return None


def order_status(order_id: str, state: WorkflowState) -> OrderStatus:
    """What the API says of an order, from its workflow's state."""
    result = None
    if state.runtime_status == WorkflowStatus.COMPLETED and state.serialized_output:
        result = OrderResult.model_validate_json(state.serialized_output)
    progress = OrderProgress.decode(state.serialized_custom_status)
    payload = order_payload(state)
    return OrderStatus(
        order_id=order_id,
        status=runtime_status(state),
        step=progress.step,
        steps=progress.steps,
        trail=progress.trail,
        item=payload.item if payload else None,
        quantity=payload.quantity if payload else None,
        total=result.total if result and result.total is not None else progress.total,
        placed_at=state.created_at,
        result=result,
    )


class OrderReader:
    """Reads orders through the engine's client, again while a read races a save."""

    def __init__(
        self,
        engine: Engine,
        *,
        torn_read_retry_delays_s: Sequence[float] = torn_reads.RETRY_DELAYS_S,
    ) -> None:
        torn_reads.quiet_sdk_log()
        self._engine = engine
        self._delays_s = tuple(torn_read_retry_delays_s)
        self._ended: OrderedDict[str, OrderStatus] = OrderedDict()
        self._ended_lock = threading.Lock()

    def state(self, order_id: str) -> WorkflowState | None:
        return torn_reads.read(
            lambda: self._engine.client.get_workflow_state(order_id, fetch_payloads=True),
            self._delays_s,
        )

    def status(self, order_id: str) -> OrderStatus:
        state = self.state(order_id)
        if state is None:
            raise OrderNotFoundError(order_id)
        return order_status(order_id, state)

    def wait_for_end(self, order_id: str, *, timeout_seconds: int) -> OrderStatus:
        """The order once it has ended; ``TimeoutError`` after ``timeout_seconds``. daprd
        streams the workflow's status to the waiting call wherever the workflow runs."""
        state = self._engine.client.wait_for_workflow_completion(
            order_id, fetch_payloads=True, timeout_in_seconds=timeout_seconds
        )
        if state is None:
            raise OrderNotFoundError(order_id)
        return order_status(order_id, state)

    def every_order(self) -> list[OrderStatus]:
        """Every order daprd holds, newest first: those still running read now, the ended
        ones as first read once ended."""
        orders = []
        for order_id in self._engine.client.list_instance_ids():
            with self._ended_lock:
                known = self._ended.get(order_id)
            if known is not None:
                orders.append(known)
                continue
            state = self.state(order_id)
            order = order_status(order_id, state) if state is not None else None
            if order is None or order.item is None:
                continue  # purged since listed, or not an order (no other workflow runs here)
            if order.status in ENDED:
                self._remember(order)
            orders.append(order)
        return sorted(orders, key=_placed, reverse=True)

    def _remember(self, order: OrderStatus) -> None:
        with self._ended_lock:
            self._ended[order.order_id] = order
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)


def _placed(order: OrderStatus) -> datetime:
    return order.placed_at or datetime.min.replace(tzinfo=UTC)
