"""The seed quickstart's console demo: a client of order-processor, not a part of it.

With RUN_DEMO=true (the local `dapr run -f .`) the gunicorn worker starts it in a thread once the
workflow worker is connected. The worker serves meanwhile (the sidecar asks the app for its
actor configuration before it runs any workflow, the demo's too), but it is not ready until the
demo is done, so whatever a user (or the README's test) does next sees the demo's stock, not a
race with it. It restocks
and places its order the way the order API does, then follows the order to its end, and prints
what the seed printed, so the seed's README checks still pass.
"""

import logging
import threading
import time
from collections.abc import Callable

from dapr.ext.workflow import WorkflowStatus
from flask import Flask

from contracts.inventory import InventoryItem, Restock
from contracts.orders import OrderRequest, OrderStatus
from order_processor import extension
from order_processor.clients import InventoryClient
from order_processor.following.reads import OrderReader
from order_processor.service import OrderService
from servicekit import tracing
from servicekit.invoke import TransientError

# (name, unit price in USD, quantity), as in the seed.
SEED_STOCK = (("paperclip", 5, 100), ("cars", 5000, 10), ("computers", 500, 100))
POLL_INTERVAL_SECONDS = 0.5
_UNFINISHED = frozenset({"PENDING", "RUNNING"})

logger = logging.getLogger("order_processor.demo")


def _say(line: str) -> None:
    print(line, flush=True)


class Clock:
    """The demo's deadline, and the pause between two tries, which keeps the worker alive."""

    def __init__(
        self,
        timeout_seconds: float,
        *,
        heartbeat: Callable[[], None] = lambda: None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.deadline = time.monotonic() + timeout_seconds
        self._heartbeat = heartbeat
        self._stopping = stopping

    def pause(self, what: str) -> None:
        if self._stopping():
            raise InterruptedError("shutting down")
        if time.monotonic() >= self.deadline:
            raise TimeoutError(f"{what} did not happen in time")
        # Gunicorn's master ends a worker that stays silent for its `timeout`.
        self._heartbeat()
        time.sleep(POLL_INTERVAL_SECONDS)


def _restock(
    inventory: InventoryClient, name: str, restock: Restock, clock: Clock
) -> InventoryItem:
    """Inventory may still be starting: its sidecar answers 5xx until it is up."""
    while True:
        try:
            return inventory.restock(name, restock)
        except TransientError:
            clock.pause("inventory becoming reachable through Dapr")


def _follow(reader: OrderReader, order_id: str, clock: Clock) -> OrderStatus:
    while (status := reader.status(order_id)).status in _UNFINISHED:
        clock.pause(f"order {order_id} finishing")
    return status


def run_demo(
    orders: OrderService, reader: OrderReader, inventory: InventoryClient, clock: Clock
) -> None:
    _say("*** Welcome to the Dapr Workflow console app sample!")
    _say("*** Using this app, you can place orders that start workflows.")
    for name, unit_price, quantity in SEED_STOCK:
        item = _restock(inventory, name, Restock(quantity=quantity, unit_price=unit_price), clock)
        _say(
            f"item: InventoryItem(item_name={item.name.capitalize()}, "
            f"per_item_cost={item.unit_price}, quantity={item.quantity})"
        )

    _say("==========Begin the purchase of item:==========")
    request = OrderRequest(item="cars", quantity=1)
    _say(f"Starting order workflow, purchasing {request.quantity} of {request.item}")
    # No HTTP request starts this order, so the demo opens the root span of its trace.
    with tracing.tracer().start_as_current_span("POST /orders (demo)"):
        accepted = orders.place(request)
    status = _follow(reader, accepted.order_id, clock)
    _say(f"Workflow completed! Result: {WorkflowStatus[status.status]}")


def start_if_asked(app: Flask, clock: Clock) -> None:
    """Start the demo in a thread if the settings ask for it; readiness waits for its end."""
    if not extension.of(app).settings.run_demo:
        return
    threading.Thread(target=run_if_asked, args=(app, clock), name="demo", daemon=True).start()


def run_if_asked(app: Flask, clock: Clock) -> None:
    """Run the demo if the settings ask for it; a failed demo says so and serving goes on."""
    processor = extension.of(app)
    try:
        if processor.settings.run_demo:
            run_demo(processor.orders, processor.reader, processor.inventory, clock)
    except InterruptedError:
        return
    except Exception as err:
        logger.exception("The demo did not complete")
        _say(f"Demo failed: {err}")
    finally:
        processor.demo_done.set()
