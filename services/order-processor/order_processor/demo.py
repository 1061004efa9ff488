"""The seed quickstart's console demo, run once after the workflow worker is ready.

Only with RUN_DEMO=true (the local `dapr run -f .`). It goes through the same clients and
order service as the API, and prints what the seed printed, so its README checks still pass.
"""

import logging
import threading
import time

from contracts.inventory import Restock
from contracts.orders import OrderRequest
from order_processor.clients import InventoryClient
from order_processor.service import OrderService
from servicekit import tracing

# (name, unit price in USD, quantity), as in the seed.
SEED_STOCK = (("paperclip", 5, 100), ("cars", 5000, 10), ("computers", 500, 100))
POLL_INTERVAL_SECONDS = 0.5

logger = logging.getLogger("order_processor.demo")


def _say(line: str) -> None:
    print(line, flush=True)


def wait_for_inventory(
    inventory: InventoryClient, *, deadline: float, stop: threading.Event
) -> None:
    """Poll inventory's liveness through Dapr until it answers or the deadline passes."""
    while not inventory.is_reachable():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("inventory did not become reachable through Dapr in time")
        # Wakes at once on shutdown.
        if stop.wait(min(POLL_INTERVAL_SECONDS, remaining)):
            raise InterruptedError("shutting down")


def run_demo(
    orders: OrderService,
    inventory: InventoryClient,
    *,
    timeout_seconds: int,
    stop: threading.Event,
) -> None:
    _say("*** Welcome to the Dapr Workflow console app sample!")
    _say("*** Using this app, you can place orders that start workflows.")
    deadline = time.monotonic() + timeout_seconds
    wait_for_inventory(inventory, deadline=deadline, stop=stop)

    for name, unit_price, quantity in SEED_STOCK:
        item = inventory.restock(name, Restock(quantity=quantity, unit_price=unit_price))
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
    remaining = max(1, int(deadline - time.monotonic()))
    state = orders.wait_for_completion(accepted.order_id, timeout_seconds=remaining)
    _say(f"Workflow completed! Result: {state.runtime_status}")


def start_demo(
    orders: OrderService,
    inventory: InventoryClient,
    *,
    timeout_seconds: int,
    stop: threading.Event,
    finished: threading.Event,
) -> threading.Thread:
    """Run the demo in a daemon thread, so it never holds up serving or shutdown; set
    ``finished`` when it ends, however it ends."""

    def target() -> None:
        try:
            run_demo(orders, inventory, timeout_seconds=timeout_seconds, stop=stop)
        except InterruptedError:
            return
        except Exception as err:
            logger.exception("The demo did not complete")
            _say(f"Demo failed: {err}")
        finally:
            finished.set()

    thread = threading.Thread(target=target, name="order-demo", daemon=True)
    thread.start()
    return thread
