"""Inventory settings, from the environment."""

from pydantic import Field

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    app_id: str = "inventory"
    app_port: int = 8081
    # The Dapr state store component; it must support ETags, first-write and transactions
    # (SQLite locally, Redis).
    state_store: str = "inventorystore"
    # Optimistic-concurrency attempts before answering 503 (the caller retries later).
    etag_max_attempts: int = Field(default=5, ge=1, le=50)
