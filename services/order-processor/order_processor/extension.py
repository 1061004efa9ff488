"""Everything the order-processor app holds for its lifetime, attached with ``init_app``.

``start``/``stop`` are called by the gunicorn worker hooks (``gunicorn.conf.py``).
"""

import threading
from dataclasses import dataclass
from typing import cast

from flask import Flask, current_app

from order_processor.clients import InventoryClient, PaymentClient
from order_processor.engine import Engine
from order_processor.following.reads import OrderReader
from order_processor.following.watch import OrderWatch
from order_processor.runtime import WorkflowWorker
from order_processor.service import OrderService
from order_processor.settings import Settings
from servicekit.invoke import DaprInvoker

KEY = "order_processor"


@dataclass
class OrderProcessor:
    settings: Settings
    invoker: DaprInvoker
    inventory: InventoryClient
    payment: PaymentClient
    engine: Engine
    orders: OrderService
    reader: OrderReader
    worker: WorkflowWorker
    watch: OrderWatch
    # Requests other than long polls served at once (app.py).
    request_slots: threading.BoundedSemaphore

    def init_app(self, app: Flask) -> None:
        app.extensions[KEY] = self

    def is_ready(self) -> bool:
        """Ready to place and follow orders: work items flow in and the engine answers."""
        return self.worker.is_ready() and self.engine.answers()


def of(app: Flask) -> OrderProcessor:
    return cast(OrderProcessor, app.extensions[KEY])


def current() -> OrderProcessor:
    return of(current_app)


def start(app: Flask) -> None:
    """In the worker process: connect the workflow worker."""
    of(app).worker.start()


def stop(app: Flask) -> None:
    """Stop taking work, then close connections; safe to call twice."""
    processor = of(app)
    processor.worker.stop()
    processor.engine.close()
    processor.invoker.close()
