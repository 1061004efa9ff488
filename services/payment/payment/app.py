"""The payment app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from payment.routes import payments_bp
from payment.settings import Settings
from payment.store import PaymentStore
from servicekit import web
from servicekit.state import StateStore

if TYPE_CHECKING:  # typing.Unpack is Python 3.12's
    from typing_extensions import Unpack


def create_app(settings: Settings | None = None, **clients: Unpack[web.SidecarClients]) -> Flask:
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
        **clients,
    )
