"""Dapr service invocation through the local sidecar: the only way services talk.

``http://127.0.0.1:{DAPR_HTTP_PORT}/v1.0/invoke/{app_id}/method/{path}``; never a direct URL
to another service, so mTLS, retries, tracing and access control stay Dapr's job.
"""

import logging
from typing import Any

import httpx

from servicekit import logs, tracing
from servicekit.settings import ServiceSettings

logger = logging.getLogger("servicekit.invoke")


class ServiceError(Exception):
    """A call failed in a way a retry will not fix (an unexpected 4xx, an unreadable body)."""


class TransientError(ServiceError):
    """A call failed in a way a retry may fix: connection error, timeout, 5xx, 429."""


class DaprInvoker:
    """One reused ``httpx.Client`` to the local sidecar; thread-safe, so one per process."""

    def __init__(
        self, settings: ServiceSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"user-agent": f"{settings.app_id}/servicekit"}
        if settings.dapr_api_token is not None:
            headers["dapr-api-token"] = settings.dapr_api_token.get_secret_value()
        self._client = httpx.Client(
            base_url=f"http://127.0.0.1:{settings.dapr_http_port}",
            headers=headers,
            timeout=httpx.Timeout(
                settings.invoke_timeout_seconds, connect=settings.invoke_connect_timeout_seconds
            ),
            transport=transport,
        )
        # The client span carries the trace context to the sidecar (W3C traceparent).
        tracing.instrument_client(self._client)

    def invoke(self, app_id: str, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """Call ``path`` on ``app_id``; transport failures, 5xx and 429 raise ``TransientError``."""
        headers = {}
        order_id = logs.current_order_id()
        if order_id:
            headers[logs.ORDER_ID_HEADER] = order_id
        url = f"/v1.0/invoke/{app_id}/method/{path.lstrip('/')}"
        try:
            response = self._client.request(method, url, json=json, headers=headers)
        except httpx.TransportError as err:
            raise TransientError(f"{method} {app_id}/{path}: {err!r}") from err
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(
                f"{method} {app_id}/{path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return response

    def sidecar_ready(self) -> bool:
        """Whether the local sidecar can reach out (``/v1.0/healthz/outbound``), without waiting."""
        try:
            response = self._client.get("/v1.0/healthz/outbound", timeout=1.0)
        except httpx.TransportError:
            return False
        return response.is_success

    def close(self) -> None:
        self._client.close()
