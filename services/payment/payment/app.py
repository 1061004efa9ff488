"""The payment app factory."""

from collections.abc import Callable

from flask import Flask

from payment import clients, store
from payment.routes import payments_bp
from payment.settings import Settings
from servicekit import web
from servicekit.invoke import DaprInvoker
from servicekit.logs import configure_logging
from servicekit.state import StateClient


def create_app(
    settings: Settings | None = None,
    *,
    state_client_factory: Callable[[], StateClient] | None = None,
    sidecar: DaprInvoker | None = None,
) -> Flask:
    """Build the app; nothing here talks to Dapr (clients connect on first use)."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    web.init_app(app, max_content_length=settings.max_content_length)

    state = clients.create_state_store(settings, state_client_factory)
    store.init_app(
        app,
        store.PaymentStore(
            state,
            decline_over=settings.payment_decline_over,
            max_attempts=settings.etag_max_attempts,
        ),
    )
    sidecar = sidecar or clients.create_sidecar(settings)

    app.register_blueprint(payments_bp)
    app.register_blueprint(web.create_probes_blueprint(sidecar.sidecar_ready))
    return app
