"""The payment app factory."""

from collections.abc import Callable

from flask import Flask

from payment.routes import payments_bp
from payment.settings import Settings
from payment.store import PaymentStore
from servicekit import web
from servicekit.invoke import DaprInvoker
from servicekit.state import StateClient, StateStore


def create_app(
    settings: Settings | None = None,
    *,
    state_client_factory: Callable[[], StateClient] | None = None,
    sidecar: DaprInvoker | None = None,
) -> Flask:
    """Only order-processor's workflow and operators reach payment, all through Dapr."""
    settings = settings or Settings()

    def store(state: StateStore) -> PaymentStore:
        return PaymentStore(
            state,
            decline_over=settings.payment_decline_over,
            max_attempts=settings.etag_max_attempts,
        )

    return web.create_store_app(
        __name__,
        settings,
        store=store,
        blueprints=(payments_bp,),
        state_client_factory=state_client_factory,
        sidecar=sidecar,
    )
