from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace

from servicekit import logs, tracing
from servicekit.invoke import DaprInvoker, TransientError
from servicekit.settings import ServiceSettings


def invoker_returning(
    response: httpx.Response | Exception, seen: list[httpx.Request], **settings: object
) -> DaprInvoker:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(response, Exception):
            raise response
        return response

    return DaprInvoker(ServiceSettings(**settings), transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_invocation_goes_to_the_local_sidecar_with_token_and_traceparent() -> None:
    seen: list[httpx.Request] = []
    invoker = invoker_returning(
        httpx.Response(200, json={}), seen, dapr_http_port=3600, dapr_api_token="s3cret"
    )

    with (
        tracing.tracer().start_as_current_span("activity") as span,
        logs.log_context(order_id="o"),
    ):
        invoker.invoke("inventory", "GET", "/inventory/cars")

    (request,) = seen
    assert str(request.url) == "http://127.0.0.1:3600/v1.0/invoke/inventory/method/inventory/cars"
    assert request.headers["dapr-api-token"] == "s3cret"
    # The sidecar continues the caller's trace.
    _, trace_id, _, _ = request.headers["traceparent"].split("-")
    assert trace_id == trace.format_trace_id(span.get_span_context().trace_id)
    assert request.headers["x-order-id"] == "o"


def test_no_token_and_no_order_id_when_unknown() -> None:
    seen: list[httpx.Request] = []
    invoker_returning(httpx.Response(200), seen).invoke("payment", "POST", "payments", json={})

    assert "dapr-api-token" not in seen[0].headers
    assert "x-order-id" not in seen[0].headers


def test_one_client_is_reused() -> None:
    seen: list[httpx.Request] = []
    invoker = invoker_returning(httpx.Response(200), seen)
    client = invoker._client

    invoker.invoke("a", "GET", "x")
    invoker.invoke("a", "GET", "y")

    assert invoker._client is client
    assert len(seen) == 2


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500),
        httpx.Response(503),
        httpx.Response(429),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_transient_failures_raise_transient_error(response: httpx.Response | Exception) -> None:
    with pytest.raises(TransientError):
        invoker_returning(response, []).invoke("inventory", "GET", "healthz")


@pytest.mark.parametrize("status", [200, 404, 409, 422])
def test_other_statuses_are_returned_to_the_caller(status: int) -> None:
    response = invoker_returning(httpx.Response(status), []).invoke("inventory", "GET", "x")
    assert response.status_code == status


@pytest.mark.parametrize(
    ("response", "ready"),
    [(httpx.Response(204), True), (httpx.Response(500), False), (httpx.ConnectError("no"), False)],
)
def test_sidecar_ready_asks_the_outbound_health_endpoint(
    response: httpx.Response | Exception, ready: bool
) -> None:
    seen: list[httpx.Request] = []

    assert invoker_returning(response, seen).sidecar_ready() is ready
    assert seen[0].url.path == "/v1.0/healthz/outbound"
