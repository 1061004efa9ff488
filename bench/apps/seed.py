"""The seed's design, for comparison: one process whose activities use the state store directly.

The seed quickstart runs the order workflow in one app whose activities read and write stock in
that app's own state store. This builds that design from this project's own code, so that the
bench compares designs, not code bases: order-processor's app (the same workflow, activities,
order API and gunicorn settings), with inventory's and payment's apps loaded into the same
process, their stores on this one app's sidecar. The activities' service calls never leave the
process: the invoker's HTTP transport hands each request straight to the target app's WSGI
callable (no socket, no sidecar, no second or third daprd), with the headers daprd would add.
So the only difference from (a) is the hops: app -> sidecar -> sidecar -> app and back, twice
per order step that reaches inventory or payment, and the two extra apps and sidecars.

Run under `dapr run` with the workflow, inventory and payment stores scoped to this app:
``gunicorn --config services/order-processor/gunicorn.conf.py 'bench.apps.seed:create_app()'``.
Dapr's invocation URL (``/v1.0/invoke/<app id>/method/<path>``) is also answered on the app's
port, in-process and with the same API token, so the bench restocks the way it does for (a).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from typing import Any

import httpx
from flask import Flask

import inventory
import order_processor
import payment
from order_processor.settings import Settings
from servicekit.invoke import DaprInvoker

INVOKE_PREFIX = "/v1.0/invoke/"
WsgiApp = Any


class InProcessDapr:
    """Dapr's service-invocation API, answered by calling the target apps in this process."""

    def __init__(self, apps: dict[str, WsgiApp]) -> None:
        self.apps = apps
        # What daprd checks on calls from its app, and adds on calls to its app.
        self.dapr_api_token = os.environ.get("DAPR_API_TOKEN")
        self.app_api_token = os.environ.get("APP_API_TOKEN")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        app_id, found, method_path = path.removeprefix(INVOKE_PREFIX).partition("/method")
        target = self.apps.get(app_id)
        if not path.startswith(INVOKE_PREFIX) or not found or target is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"no app {app_id!r} in this process".encode()]
        given = environ.get("HTTP_DAPR_API_TOKEN", "")
        if self.dapr_api_token and not hmac.compare_digest(given, self.dapr_api_token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"missing or wrong dapr-api-token"]
        inner = {**environ, "PATH_INFO": method_path or "/", "SCRIPT_NAME": ""}
        inner.pop("HTTP_DAPR_API_TOKEN", None)
        if self.app_api_token:
            inner["HTTP_DAPR_API_TOKEN"] = self.app_api_token
        result: Iterable[bytes] = target(inner, start_response)
        return result

    def mount(self, fallback: WsgiApp) -> WsgiApp:
        """``fallback`` with Dapr's invocation URL answered here, in-process."""

        def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            if environ.get("PATH_INFO", "").startswith(INVOKE_PREFIX):
                return self(environ, start_response)
            result: Iterable[bytes] = fallback(environ, start_response)
            return result

        return wsgi


def create_app() -> Flask:
    """order-processor's app, with inventory and payment in-process instead of behind Dapr."""
    settings = Settings()
    local = InProcessDapr(
        {
            settings.inventory_app_id: inventory.create_app(),
            settings.payment_app_id: payment.create_app(),
        }
    )
    invoker = DaprInvoker(settings, transport=httpx.WSGITransport(app=local))
    app = order_processor.create_app(settings, invoker=invoker)
    app.wsgi_app = local.mount(app.wsgi_app)  # type: ignore[method-assign]
    return app
