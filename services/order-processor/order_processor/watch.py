"""The long poll behind ``GET /orders/<id>?wait=S[&step=X]``: an answer when there is news.

News is the end of the order (always), or a step other than the one the client has (when it
says which with ``step``). The daprd of this app is the truth for both; what this module adds
is knowing *when* to ask it, without a loop of reads:

- The end: daprd's own wait (``WaitForInstanceCompletion``). daprd streams the workflow actor's
  status to the waiting call wherever that actor runs, so it holds with any number of replicas,
  and costs one call per wait.
- A new step: the workflow publishes each step as its custom status, and in this process also
  rings ``order_processor.bell.BELL`` for the order. With one replica, the workflow of every
  order runs in this process, so a waiter hears every step at once. The ring comes while the
  orchestrator runs, before daprd has saved the step, so the waiter reads after it at short
  intervals (5 ms, growing to 40 ms) until daprd shows it. With several replicas an order's
  workflow may run in another one, whose bell this process cannot hear: a waiter that hears
  nothing reads again every ``RECHECK_S`` (one read a second per waiting client), so another
  replica's step is seen within that.

Each waiting request holds one gunicorn thread (gthread), so at most ``max_waiting`` wait at
once; gunicorn.conf.py gives order-processor that many threads on top of its usual ones, so
waiting never takes a thread other requests need. Beyond the bound, ``TooManyWaitingError``
(the API answers 503 with Retry-After).
"""

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from contracts.orders import OrderStatus, Step
from order_processor.bell import BELL, StepBell
from order_processor.service import OrderService, order_status

# The longest a request may be held: below every usual proxy's idle timeout (60 s).
MAX_WAIT_SECONDS = 30
# With nothing heard, how often a step waiter reads (only orders of other replicas need it).
RECHECK_S = 1.0
# After a ring, until daprd shows the step: the first read, doubling up to the second.
# Each step is at least one activity (a service call through two sidecars) after the last.
AFTER_RING_FIRST_S = 0.005
AFTER_RING_MAX_S = 0.04

ENDED = frozenset({"COMPLETED", "FAILED", "TERMINATED"})


class TooManyWaitingError(Exception):
    """As many requests as allowed are already waiting."""


class OrderWatch:
    """Waits, bounded in time and in number, for an order's news; see the module docstring."""

    def __init__(
        self,
        orders: OrderService,
        *,
        max_waiting: int,
        bell: StepBell = BELL,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._orders = orders
        self._slots = threading.BoundedSemaphore(max_waiting)
        self._bell = bell
        self._recheck_s = recheck_s

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise TooManyWaitingError
        try:
            yield
        finally:
            self._slots.release()

    def wait(
        self, order_id: str, *, wait_s: int, any_step: bool, step: Step | None = None
    ) -> OrderStatus:
        """The order once it has ended (or, with ``any_step``, once its step is not ``step``,
        ``None`` meaning none yet), or as it is after ``wait_s`` seconds.

        ``OrderNotFoundError`` for an unknown order, at once."""
        deadline = time.monotonic() + wait_s
        if wait_s <= 0:
            return self._orders.status(order_id)
        # The slot first: beyond the bound the answer (503) costs no read of daprd.
        # Listening before the first read: a ring between the read and the wait is kept.
        with self._slot(), self._bell.listen(order_id) as rung:
            # Read first: an unknown order is a 404 at once (daprd's wait would wait for it),
            # and news the client has not seen yet needs no wait.
            current = self._orders.status(order_id)
            if _is_news(current, any_step, step):
                return current
            if any_step:
                return self._next_step(order_id, rung, step, deadline)
            return self._end(order_id, wait_s)

    def _end(self, order_id: str, wait_s: int) -> OrderStatus:
        try:
            state = self._orders.wait_for_completion(order_id, timeout_seconds=wait_s)
        except TimeoutError:
            return self._orders.status(order_id)
        return order_status(order_id, state)

    def _next_step(
        self, order_id: str, rung: threading.Event, step: Step | None, deadline: float
    ) -> OrderStatus:
        pause_s = self._recheck_s
        rung_at = -math.inf
        while True:
            if rung.wait(min(pause_s, max(deadline - time.monotonic(), 0))):
                # Cleared before the read, so a ring during the read wakes the next wait.
                rung.clear()
                rung_at = time.monotonic()
                pause_s = AFTER_RING_FIRST_S
            elif time.monotonic() - rung_at < self._recheck_s:
                # Rung, not saved yet: read again soon, and never so late that the step
                # after it could be saved too (a client following steps would miss one).
                pause_s = min(pause_s * 2, AFTER_RING_MAX_S)
            else:
                pause_s = self._recheck_s
            current = self._orders.status(order_id)
            if _is_news(current, True, step) or time.monotonic() >= deadline:
                return current


def _is_news(order: OrderStatus, any_step: bool, step: Step | None) -> bool:
    return order.status in ENDED or (any_step and order.step != step)
