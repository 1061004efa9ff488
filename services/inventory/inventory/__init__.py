"""The inventory service: items, prices, stock and reservations, in the ``inventorystore`` store."""

from inventory.app import create_app

__all__ = ["create_app"]
