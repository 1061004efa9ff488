"""The inventory app factory."""

from collections.abc import Callable

from flask import Flask

from inventory import store
from inventory.routes import inventory_bp, reservations_bp
from inventory.settings import Settings
from servicekit import web
from servicekit.invoke import DaprInvoker
from servicekit.state import StateClient, StateStore


def create_app(
    settings: Settings | None = None,
    *,
    state_client_factory: Callable[[], StateClient] | None = None,
    sidecar: DaprInvoker | None = None,
) -> Flask:
    """Build the app; nothing here talks to Dapr (clients connect on first use)."""
    settings = settings or Settings()
    app = web.create_service_app(__name__, settings)
    # Only order-processor's workflow and operators reach inventory, all through Dapr.
    web.require_app_token(app, settings.app_api_token)

    # The only thing this service calls is its own sidecar: its state store, and its health.
    state = StateStore(settings.state_store, state_client_factory)
    store.init_app(app, store.InventoryStore(state, max_attempts=settings.etag_max_attempts))
    sidecar = sidecar or DaprInvoker(settings)

    app.register_blueprint(inventory_bp)
    app.register_blueprint(reservations_bp)
    app.register_blueprint(web.create_probes_blueprint(sidecar.sidecar_ready))
    return app
