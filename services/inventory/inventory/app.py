"""The inventory app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from inventory.routes import inventory_bp, reservations_bp
from inventory.settings import Settings
from inventory.store import InventoryStore
from servicekit import web
from servicekit.state import StateStore

if TYPE_CHECKING:  # typing.Unpack is Python 3.12's
    from typing_extensions import Unpack


def create_app(settings: Settings | None = None, **clients: Unpack[web.SidecarClients]) -> Flask:
    """Only order-processor's workflow and operators reach inventory, all through Dapr."""
    settings = settings or Settings()

    def store(state: StateStore) -> InventoryStore:
        return InventoryStore(state, max_attempts=settings.etag_max_attempts)

    return web.create_store_app(
        __name__,
        settings,
        store=store,
        blueprints=(inventory_bp, reservations_bp),
        **clients,
    )
