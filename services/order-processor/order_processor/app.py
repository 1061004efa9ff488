"""The order-processor app factory: the order API; the workflow worker starts in a gunicorn hook."""

import threading
from collections.abc import Callable

from flask import Flask, g, request

from order_processor import access
from order_processor.activities import OrderActivities
from order_processor.board.routes import board_bp
from order_processor.board.session import BoardSessions
from order_processor.clients import InventoryClient, PaymentClient
from order_processor.engine import Engine, WorkflowClient, dapr_workflow_client
from order_processor.extension import OrderProcessor, current
from order_processor.following.reads import OrderReader
from order_processor.following.watch import OrderWatch
from order_processor.routes import inventory_bp, openapi_bp, orders_bp, payments_bp
from order_processor.runtime import Runtime, WorkflowWorker, workflow_runtime
from order_processor.service import OrderService
from order_processor.settings import Settings
from servicekit import web
from servicekit.invoke import DaprInvoker


def create_app(
    settings: Settings | None = None,
    *,
    invoker: DaprInvoker | None = None,
    workflow_client_factory: Callable[[], WorkflowClient] | None = None,
    runtime_factory: Callable[[], Runtime] | None = None,
) -> Flask:
    """Build the app; nothing here connects to Dapr (the worker starts in post_worker_init)."""
    settings = settings or Settings()
    app = web.create_service_app(__name__, settings)

    invoker = invoker or DaprInvoker(settings)
    inventory = InventoryClient(invoker, settings.inventory_app_id)
    payment = PaymentClient(invoker, settings.payment_app_id)
    worker = WorkflowWorker(
        OrderActivities(inventory, payment), runtime_factory or workflow_runtime
    )
    engine = Engine(workflow_client_factory or dapr_workflow_client)
    reader = OrderReader(engine)
    tokens = access.RoleTokens(settings.role_tokens())
    sessions = BoardSessions(tokens, settings.manager_api_token)
    processor = OrderProcessor(
        settings=settings,
        invoker=invoker,
        inventory=inventory,
        payment=payment,
        engine=engine,
        orders=OrderService(
            engine, reader, approval_timeout_seconds=settings.approval_timeout_seconds
        ),
        reader=reader,
        worker=worker,
        watch=OrderWatch(reader, max_waiting=settings.max_waiting_requests),
        request_slots=threading.BoundedSemaphore(settings.gunicorn_threads),
    )
    processor.init_app(app)
    sessions.init_app(app)

    # No web.require_app_token here: this is the public edge, guarded by role (access.py).
    app.register_blueprint(orders_bp)
    app.register_blueprint(inventory_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(board_bp)
    app.register_blueprint(web.create_probes_blueprint(processor.is_ready))
    # Before the request slots: a refused request never waits for one.
    access.init_app(app, tokens, sessions.refusal)
    _bound_other_requests(app)
    return app


def _is_long_poll() -> bool:
    """A long poll, or the board's stream, which waits the same way (following.watch)."""
    return request.endpoint == "board.events" or (
        request.endpoint == "orders.get_order" and "wait" in request.args
    )


def _bound_other_requests(app: Flask) -> None:
    """Serve at most GUNICORN_THREADS requests other than long polls at once; the rest wait
    for a slot, as they waited for a thread before gunicorn.conf.py added the long polls'.

    Without it they could use every thread: 40 orders placed at once made daprd's SQLite
    workflow store refuse one (SQLITE_BUSY after its busyTimeout), and the API answered 503.
    One waiting for a slot holds a thread, so under such a burst a long poll may wait for a
    thread as long as it takes the burst to drain through the slots."""

    @app.before_request
    def take_slot() -> None:
        if not _is_long_poll():
            slots = current().request_slots
            slots.acquire()
            g.request_slot = slots

    @app.teardown_request
    def give_slot(_exc: BaseException | None) -> None:
        slots = g.pop("request_slot", None)
        if slots is not None:
            slots.release()
