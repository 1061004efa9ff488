"""What inventory calls: only its own sidecar's state API (it invokes no other service)."""

from collections.abc import Callable

from inventory.settings import Settings
from servicekit.invoke import DaprInvoker
from servicekit.state import StateClient, StateStore, dapr_state_client


def create_state_store(
    settings: Settings, client_factory: Callable[[], StateClient] | None = None
) -> StateStore:
    return StateStore(settings.state_store, client_factory or dapr_state_client)


def create_sidecar(settings: Settings) -> DaprInvoker:
    """For readiness: the sidecar's own health, reached like any other Dapr call."""
    return DaprInvoker(settings)
