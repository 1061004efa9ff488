"""Tracing: every service reports its spans to Zipkin under its app id, and W3C trace context
rides on every call (HTTP through the sidecars, gRPC to the workflow engine), so one order is
one trace across the apps and their sidecars.

The Dapr workflow SDK already opens a span around each activity, parented by the trace context
daprd hands it; the context daprd has comes from the gRPC call that started the workflow,
which is why the gRPC client is instrumented here.
"""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
from flask import Flask
from opentelemetry import context, trace
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The tag Zipkin finds an order's trace by: only spans of the order's own trace carry it.
ORDER_ID_ATTRIBUTE = "order.id"
# Probes are polled every few seconds; a trace each would bury the orders. (The checks a probe
# makes, on the sidecar or the engine, are kept out of traces by ``untraced``.)
UNTRACED_PATHS = "healthz,readyz,openapi.json"

_provider: TracerProvider | None = None


def configure_tracing(app_id: str, zipkin_endpoint: str | None) -> None:
    """Install this process's tracer provider once; without an endpoint spans still get ids
    (for the logs and for propagation) but are not exported."""
    global _provider  # noqa: PLW0603 - one provider per process, as OpenTelemetry requires
    if _provider is not None:
        return
    # No sampler given: the SDK's is the one OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
    # name, by default parentbased_always_on (every order traced). A parent-based one keeps an
    # order's trace whole: the sidecars' sampler is parent-based too, and follows the app's
    # decision carried in traceparent. Resource.create reads OTEL_RESOURCE_ATTRIBUTES.
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


@contextmanager
def untraced() -> Iterator[None]:
    """Calls made inside are traced neither here nor by the sidecar: a probe's checks, every
    few seconds, would each be a trace of their own and bury the orders.

    Not OpenTelemetry's suppress_instrumentation: without a traceparent daprd starts a trace
    of its own for the call (sampled at its own rate). Instead the calls get a parent that is
    not sampled, which the (parent-based) samplers here and in daprd both follow, and the
    traceparent they send says so."""
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=random.getrandbits(128) or 1,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        )
    )
    token = context.attach(trace.set_span_in_context(parent))
    try:
        yield
    finally:
        context.detach(token)


class OutsideTracesUntraced(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """For a gRPC channel whose calls are mostly housekeeping: a call made outside any trace
    is made ``untraced``; one inside a trace (an order's) stays in it.

    The workflow worker's channel carries its work-item stream and a completion call after
    each orchestrator step; outside a trace each was a root span here and in daprd, i.e. a
    trace of its own: several per order, noise in Zipkin and CPU in every process on the way.
    Put on the channel after OpenTelemetry's interceptor, so it runs first."""

    def _call(self, continuation: Any, details: Any, request: Any) -> Any:
        if trace.get_current_span().get_span_context().is_valid:
            return continuation(details, request)
        with untraced():
            return continuation(details, request)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._call(continuation, details, request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._call(continuation, details, request)


def tag_order(order_id: str) -> None:
    """Mark the current span as part of the order's trace."""
    trace.get_current_span().set_attribute(ORDER_ID_ATTRIBUTE, order_id)


def record_failure(description: str) -> None:
    """Mark the current span as failed, so a business failure shows as an error in Zipkin."""
    trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, description))


def tracer() -> trace.Tracer:
    return trace.get_tracer("servicekit")
