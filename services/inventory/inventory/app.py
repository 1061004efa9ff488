"""The inventory app factory."""

from collections.abc import Callable

from flask import Flask

from inventory.routes import inventory_bp, reservations_bp
from inventory.settings import Settings
from inventory.store import InventoryStore
from servicekit import web
from servicekit.invoke import DaprInvoker
from servicekit.state import StateClient, StateStore


def create_app(
    settings: Settings | None = None,
    *,
    state_client_factory: Callable[[], StateClient] | None = None,
    sidecar: DaprInvoker | None = None,
) -> Flask:
    """Only order-processor's workflow and operators reach inventory, all through Dapr."""
    settings = settings or Settings()

    def store(state: StateStore) -> InventoryStore:
        return InventoryStore(state, max_attempts=settings.etag_max_attempts)

    return web.create_store_app(
        __name__,
        settings,
        store=store,
        blueprints=(inventory_bp, reservations_bp),
        state_client_factory=state_client_factory,
        sidecar=sidecar,
    )
