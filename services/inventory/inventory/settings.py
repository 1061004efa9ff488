"""Inventory settings, from the environment."""

from servicekit.settings import StoreSettings


class Settings(StoreSettings):
    app_id: str = "inventory"
    app_port: int = 8081
    state_store: str = "inventorystore"
