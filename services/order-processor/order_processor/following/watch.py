"""Waiting for an order's news, without a loop of reads: the long poll behind
``GET /orders/<id>?wait=S[&step=X]``, and the manager's board's event stream.

News is the end of the order (always), or a step other than the one the client has (when it
says which with ``step``); for the board, any change to what it shows. daprd is the truth;
what this module adds is knowing *when* to ask it:

- The end of one order: daprd's own wait (``WaitForInstanceCompletion``). daprd streams the
  workflow actor's status to the waiting call wherever that actor runs, so it holds with any
  number of replicas, and costs one call per wait.
- A new step: the workflow publishes each step as its custom status, and in this process also
  rings ``following.bell.BELL`` for the order. With one replica, the workflow of every order
  runs in this process, so a waiter hears every step at once. The ring comes while the
  orchestrator runs, before daprd has saved the step, so the waiter reads after it at short
  intervals (5 ms, growing to 40 ms) until daprd shows it. With several replicas an order's
  workflow may run in another one, whose bell this process cannot hear: a waiter that hears
  nothing reads again every ``RECHECK_S``, so another replica's step is seen within that.
  The board waits the same way, for a ring of any order.

Each waiting request holds one gunicorn thread (gthread), so at most ``max_waiting`` wait at
once, board streams included; gunicorn.conf.py gives order-processor that many threads on top
of its usual ones, so waiting never takes a thread other requests need. Beyond the bound,
``TooManyWaitingError`` (the API answers 503 with Retry-After). A board stream ends after
``MAX_WAIT_SECONDS`` like a long poll, and the browser's EventSource opens the next one.
"""

import math
import operator
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from contracts.orders import MAX_WAIT_SECONDS, OrderStatus, Step
from order_processor.following.bell import BELL, StepBell
from order_processor.following.reads import ENDED, OrderReader

# With nothing heard, how often a waiter reads (only orders of other replicas need it).
RECHECK_S = 1.0
# After a ring, until daprd shows the step: the first read, doubling up to the second.
# Each step is at least one activity (a service call through two sidecars) after the last.
AFTER_RING_FIRST_S = 0.005
AFTER_RING_MAX_S = 0.04

T = TypeVar("T")


class TooManyWaitingError(Exception):
    """As many requests as allowed are already waiting."""


class OrderWatch:
    """Waits, bounded in time and in number, for news; see the module docstring."""

    def __init__(
        self,
        reader: OrderReader,
        *,
        max_waiting: int,
        bell: StepBell = BELL,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._reader = reader
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
            return self._reader.status(order_id)
        # The slot first: beyond the bound the answer (503) costs no read of daprd.
        # Listening before the first read: a ring between the read and the wait is kept.
        with self._slot(), self._bell.listen(order_id) as rung:
            # Read first: an unknown order is a 404 at once (daprd's wait would wait for it),
            # and news the client has not seen yet needs no wait.
            current = self._reader.status(order_id)
            if _is_news(current, any_step, step):
                return current
            if any_step:
                return self._until(
                    lambda: self._reader.status(order_id),
                    lambda order: _is_news(order, True, step),
                    rung,
                    deadline,
                )
            return self._end(order_id, wait_s)

    def changes(self, read: Callable[[], T], *, wait_s: float = MAX_WAIT_SECONDS) -> Generator[T]:
        """What ``read()`` returns now, then each time it differs, for ``wait_s`` seconds;
        woken by a ring of any order (the board's stream)."""
        deadline = time.monotonic() + wait_s
        with self._slot(), self._bell.listen_to_all() as rung:
            last = read()
            yield last
            while time.monotonic() < deadline:
                current = self._until(read, partial(operator.ne, last), rung, deadline)
                if current != last:
                    last = current
                    yield current

    def _end(self, order_id: str, wait_s: int) -> OrderStatus:
        try:
            return self._reader.wait_for_end(order_id, timeout_seconds=wait_s)
        except TimeoutError:
            return self._reader.status(order_id)

    def _until(
        self,
        read: Callable[[], T],
        is_news: Callable[[T], bool],
        rung: threading.Event,
        deadline: float,
    ) -> T:
        """``read()`` once it is news, or at the deadline: read after each ring (soon, and
        again while daprd has not saved the step), and every ``recheck_s`` otherwise."""
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
            current = read()
            if is_news(current) or time.monotonic() >= deadline:
                return current


def _is_news(order: OrderStatus, any_step: bool, step: Step | None) -> bool:
    return order.status in ENDED or (any_step and order.step != step)
