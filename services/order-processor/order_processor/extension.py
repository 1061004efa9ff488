"""Everything the order-processor app holds for its lifetime, attached with ``init_app``.

``start``/``stop`` are called by the gunicorn worker hooks (``gunicorn.conf.py``).
"""

import threading
from dataclasses import dataclass, field
from typing import cast

from flask import Flask, current_app

from order_processor.clients import InventoryClient, PaymentClient
from order_processor.demo import start_demo
from order_processor.runtime import WorkflowWorker
from order_processor.service import OrderService
from order_processor.settings import Settings
from order_processor.watch import OrderWatch
from servicekit.invoke import DaprInvoker

KEY = "order_processor"


@dataclass
class OrderProcessor:
    settings: Settings
    invoker: DaprInvoker
    inventory: InventoryClient
    payment: PaymentClient
    orders: OrderService
    worker: WorkflowWorker
    watch: OrderWatch
    stopping: threading.Event = field(default_factory=threading.Event)
    # With RUN_DEMO the app is ready only once the demo order is done, so whatever a user (or
    # the README's test) does next sees the demo's stock, not a race with it.
    demo_finished: threading.Event = field(default_factory=threading.Event)

    def init_app(self, app: Flask) -> None:
        app.extensions[KEY] = self

    def is_ready(self) -> bool:
        """Ready to place and follow orders: work items flow in and the engine answers."""
        return (
            self.demo_finished.is_set() and self.worker.is_ready() and self.orders.reaches_engine()
        )


def current() -> OrderProcessor:
    return cast(OrderProcessor, current_app.extensions[KEY])


def start(app: Flask) -> None:
    """In the worker process: connect the workflow worker, then run the demo if asked."""
    ext = cast(OrderProcessor, app.extensions[KEY])
    ext.worker.start()
    if not ext.settings.run_demo:
        ext.demo_finished.set()
        return
    start_demo(
        ext.orders,
        ext.inventory,
        timeout_seconds=ext.settings.demo_timeout_seconds,
        stop=ext.stopping,
        finished=ext.demo_finished,
    )


def stop(app: Flask) -> None:
    """Stop taking work, then close connections; safe to call twice."""
    ext = cast(OrderProcessor, app.extensions[KEY])
    ext.stopping.set()
    ext.worker.stop()
    ext.orders.close()
    ext.invoker.close()
