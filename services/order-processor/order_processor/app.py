"""The order-processor app factory: the order API; the workflow worker starts in a gunicorn hook."""

from collections.abc import Callable

from flask import Flask

from order_processor.activities import OrderActivities
from order_processor.clients import InventoryClient, PaymentClient
from order_processor.extension import OrderProcessor
from order_processor.routes import inventory_bp, openapi_bp, orders_bp, payments_bp
from order_processor.runtime import Runtime, WorkflowWorker, workflow_runtime
from order_processor.service import OrderService, WorkflowClient, dapr_workflow_client
from order_processor.settings import Settings
from order_processor.watch import OrderWatch
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
    orders = OrderService(
        approval_timeout_seconds=settings.approval_timeout_seconds,
        client_factory=workflow_client_factory or dapr_workflow_client,
    )
    processor = OrderProcessor(
        settings=settings,
        invoker=invoker,
        inventory=inventory,
        payment=payment,
        orders=orders,
        worker=worker,
        watch=OrderWatch(orders, max_waiting=settings.max_waiting_requests),
    )
    processor.init_app(app)

    # No web.require_app_token here: this is the public edge (see order_processor.routes).
    app.register_blueprint(orders_bp)
    app.register_blueprint(inventory_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(web.create_probes_blueprint(processor.is_ready))
    return app
