"""Tracing: every service reports its spans to Zipkin under its app id, and W3C trace context
rides on every call (HTTP through the sidecars, gRPC to the workflow engine), so one order is
one trace across the apps and their sidecars.

The Dapr workflow SDK already opens a span around each activity, parented by the trace context
daprd hands it; the context daprd has comes from the gRPC call that started the workflow,
which is why the gRPC client is instrumented here.
"""

import httpx
from flask import Flask
from opentelemetry import trace
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The tag Zipkin finds an order's trace by: only spans of the order's own trace carry it.
ORDER_ID_ATTRIBUTE = "order.id"
# Probes are polled every few seconds; a trace each would bury the orders.
UNTRACED_PATHS = "healthz,readyz,openapi.json"

_provider: TracerProvider | None = None


def configure_tracing(app_id: str, zipkin_endpoint: str | None) -> None:
    """Install this process's tracer provider once; without an endpoint spans still get ids
    (for the logs and for propagation) but are not exported."""
    global _provider  # noqa: PLW0603 - one provider per process, as OpenTelemetry requires
    if _provider is not None:
        return
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: app_id}))
    if zipkin_endpoint:
        _provider.add_span_processor(BatchSpanProcessor(ZipkinExporter(endpoint=zipkin_endpoint)))
    trace.set_tracer_provider(_provider)
    grpc_client = GrpcInstrumentorClient()  # type: ignore[no-untyped-call]
    if not grpc_client.is_instrumented_by_opentelemetry:
        grpc_client.instrument()


def flush() -> None:
    """Send what is buffered; called when a worker stops, so its last spans are not lost."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def instrument_app(app: Flask) -> None:
    FlaskInstrumentor.instrument_app(app, excluded_urls=UNTRACED_PATHS)  # type: ignore[no-untyped-call]


def instrument_client(client: httpx.Client) -> None:
    HTTPXClientInstrumentor.instrument_client(client)


def tag_order(order_id: str) -> None:
    """Mark the current span as part of the order's trace."""
    trace.get_current_span().set_attribute(ORDER_ID_ATTRIBUTE, order_id)


def record_failure(description: str) -> None:
    """Mark the current span as failed, so a business failure shows as an error in Zipkin."""
    trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, description))


def tracer() -> trace.Tracer:
    return trace.get_tracer("servicekit")
