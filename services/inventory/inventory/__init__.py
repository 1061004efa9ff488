"""The inventory service: items, prices and stock, kept in the ``inventorystore`` state store."""

from inventory.app import create_app

__all__ = ["create_app"]
