"""``orderctl demo``: the seed quickstart's console demo, a client of the order API.

It waits for the API to be ready, restocks the seed's three items with the operator's token,
places one order for a car as a customer (which needs no token), follows it with the API's
long poll, and prints what the seed's console app printed, in the same order. `make run`
starts it beside order-processor's server (dapr.yaml), so its lines come out as that app's, as
the seed's did; the service neither knows about it nor waits for it, as a starter sits beside
a worker. One deadline bounds the whole demo: every wait and every retry stops at it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from contracts.orders import OrderStatus
from orderctl.client import ENDED, ApiError, ApiUnreachableError, OrderClient, pause_before_retry

# (name, unit price in USD, quantity), as in the seed; then its one order: 1 car.
SEED_STOCK = (("paperclip", 5, 100), ("cars", 5000, 10), ("computers", 500, 100))
SEED_ORDER = ("cars", 1)
DEFAULT_TIMEOUT_S = 120.0
# The pause before trying again a call that failed in a way that passes, unless the API says
# when to come back (Retry-After).
RETRY_PAUSE_S = 0.5

T = TypeVar("T")
Say = Callable[[str], None]


class DemoTimeoutError(Exception):
    """The deadline passed before the demo was done."""


class Deadline:
    """The demo's end: the time left for the next wait, and the pause between two tries."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s

    def remaining_s(self) -> float:
        return max(self._end - time.monotonic(), 0.0)

    @property
    def end(self) -> float:
        """The deadline as a ``time.monotonic()`` instant."""
        return self._end

    def gave_up(self, waiting_for: str, last: object) -> DemoTimeoutError:
        """The error that names what was awaited and the ``last`` thing seen."""
        return DemoTimeoutError(
            f"gave up after {self.timeout_s:g} s waiting for {waiting_for}; last: {last}"
        )

    def pause(self, waiting_for: str, after: ApiError | ApiUnreachableError) -> None:
        """Wait before trying again after ``after``, at most until the deadline."""
        if self.remaining_s() <= 0:
            raise self.gave_up(waiting_for, after)
        pause_before_retry(after, self._end, pause_s=RETRY_PAUSE_S)


def _retrying(call: Callable[[], T], deadline: Deadline, waiting_for: str) -> T:
    """``call()``, tried again while it fails in a way that passes: nothing listens yet (the
    server is starting) or a 5xx (the API not ready yet, inventory's sidecar still starting).
    A 4xx will not pass: it fails the demo at once."""
    while True:
        try:
            return call()
        except ApiUnreachableError as err:
            deadline.pause(waiting_for, err)
        except ApiError as err:
            if not err.transient:
                raise
            deadline.pause(waiting_for, err)


def _follow(client: OrderClient, order_id: str, deadline: Deadline) -> OrderStatus:
    """The order once it has ended, followed with the API's long polls: the demo waits, it
    does not poll."""
    last: object = "no answer"
    try:
        for order in client.follow(order_id, deadline=deadline.end):
            if order.status in ENDED:
                return order
            last = f"{order.status} at step {order.step or 'none yet'}"
    except ApiError as err:
        if not err.transient:
            raise
        last = err
    raise deadline.gave_up(f"order {order_id} to end", last)


def run(client: OrderClient, deadline: Deadline, say: Say) -> OrderStatus:
    """Run the demo, printing the seed's lines with ``say``; the demo's order once it ended.

    Fails with ``DemoTimeoutError``, the client's errors, or ``MissingTokenError`` (no
    operator's token to restock with)."""
    _retrying(client.ready, deadline, "the order API to be ready")
    say("*** Welcome to the Dapr Workflow console app sample!")
    say("*** Using this app, you can place orders that start workflows.")
    for name, unit_price, quantity in SEED_STOCK:
        # Absolute values (PUT): trying again cannot restock twice.
        restock = partial(client.restock, name, quantity, unit_price)
        item = _retrying(restock, deadline, f"inventory to restock {name}")
        say(
            f"item: InventoryItem(item_name={item.name.capitalize()}, "
            f"per_item_cost={item.unit_price}, quantity={item.quantity})"
        )

    say("==========Begin the purchase of item:==========")
    name, quantity = SEED_ORDER
    say(f"Starting order workflow, purchasing {quantity} of {name}")
    # One key for every try: a retried POST whose first answer was lost is the same order.
    place = partial(client.place, name, quantity, idempotency_key=uuid.uuid4().hex)
    accepted = _retrying(place, deadline, "the order API to accept the order")
    order = _follow(client, accepted.order_id, deadline)
    say(f"Workflow completed! Result: WorkflowStatus.{order.status}")
    return order
