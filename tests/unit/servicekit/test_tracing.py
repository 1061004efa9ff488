"""servicekit.tracing: one tracer provider per process, requests traced but not the probes,
and an order's spans tagged and marked failed where the business failed."""

from __future__ import annotations

import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit import tracing


def traced_app() -> Flask:
    app = Flask(__name__)
    tracing.instrument_app(app)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.post("/orders/<order_id>")
    def order(order_id: str) -> str:
        tracing.tag_order(order_id)
        tracing.record_failure("payment declined")
        return "done"

    return app


def test_the_provider_is_installed_once(finished_spans: InMemorySpanExporter) -> None:
    provider = trace.get_tracer_provider()

    tracing.configure_tracing("another-app", zipkin_endpoint="http://localhost:9411/api/v2/spans")

    assert trace.get_tracer_provider() is provider
    with tracing.tracer().start_as_current_span("work"):
        pass
    (span,) = finished_spans.get_finished_spans()
    # The first configuration's service name still holds.
    assert span.resource.attributes["service.name"] == "unit-tests"


def test_requests_are_traced_but_probes_are_not(finished_spans: InMemorySpanExporter) -> None:
    client = traced_app().test_client()

    client.get("/healthz")
    client.post("/orders/order-1")

    assert [span.name for span in finished_spans.get_finished_spans()] == [
        "POST /orders/<order_id>"
    ]


def test_an_order_span_carries_its_order_id_and_its_failure(
    finished_spans: InMemorySpanExporter,
) -> None:
    traced_app().test_client().post("/orders/order-1")

    (span,) = finished_spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[tracing.ORDER_ID_ATTRIBUTE] == "order-1"
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.status.description == "payment declined"


def test_flush_before_tracing_is_configured_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker that stops before its app was built must still exit cleanly.
    monkeypatch.setattr(tracing, "_provider", None)

    tracing.flush()
