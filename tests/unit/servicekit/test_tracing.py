"""servicekit.tracing: one tracer provider per process; requests traced, but not the probes,
nor the checks they make through the sidecar, nor the workflow worker's own calls; an order's
spans tagged and marked failed where the business failed; and the sampler is the one the
standard OpenTelemetry variables name."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit import tracing, web
from servicekit.invoke import DaprInvoker
from servicekit.settings import ServiceSettings

SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def sampled(request: httpx.Request) -> bool:
    """The sampled bit of the traceparent the call carried."""
    return bool(int(request.headers["traceparent"].rsplit("-", 1)[1], 16) & 1)


def probed_app(checks: list[httpx.Request]) -> Flask:
    """An app whose readiness asks its sidecar, as inventory's and payment's do."""

    def sidecar(request: httpx.Request) -> httpx.Response:
        checks.append(request)
        return httpx.Response(204)

    invoker = DaprInvoker(ServiceSettings(), transport=httpx.MockTransport(sidecar))
    app = web.create_service_app(__name__, ServiceSettings())
    app.register_blueprint(web.create_probes_blueprint(invoker.sidecar_ready))

    @app.get("/work")
    def work() -> dict[str, bool]:
        return {"ready": invoker.sidecar_ready()}

    return app


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("headers", [{}, {"traceparent": SAMPLED}])
def test_probes_record_no_span_and_their_checks_tell_the_sidecar_not_to_trace(
    finished_spans: InMemorySpanExporter, path: str, headers: dict[str, str]
) -> None:
    checks: list[httpx.Request] = []

    assert probed_app(checks).test_client().get(path, headers=headers).status_code == 200

    assert finished_spans.get_finished_spans() == ()
    for check in checks:
        # daprd's sampler is parent-based: "not sampled" in traceparent keeps it out too.
        assert not sampled(check)


def test_the_same_call_outside_a_probe_is_traced(finished_spans: InMemorySpanExporter) -> None:
    checks: list[httpx.Request] = []

    probed_app(checks).test_client().get("/work")

    assert [span.name for span in finished_spans.get_finished_spans()] == ["GET", "GET /work"]
    assert sampled(checks[0])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "ParentBased{root:AlwaysOnSampler,"),
        (
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
            "ParentBased{root:TraceIdRatioBased{0.1},",
        ),
    ],
)
def test_the_sampler_is_named_by_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # configure_tracing builds its provider with no sampler: the SDK reads these variables.
    provider = TracerProvider()
    assert isinstance(provider.sampler, sampling.Sampler)
    assert provider.sampler.get_description().startswith(expected)


def test_worker_calls_outside_a_trace_are_made_untraced_and_inside_one_stay_in_it() -> None:
    interceptor = tracing.OutsideTracesUntraced()
    seen: list[trace.SpanContext] = []

    def continuation(details: object, request: object) -> str:
        seen.append(trace.get_current_span().get_span_context())
        return "answer"

    assert interceptor.intercept_unary_unary(continuation, None, None) == "answer"
    with tracing.tracer().start_as_current_span("an order's activity") as span:
        interceptor.intercept_unary_stream(continuation, None, None)

    outside, inside = seen
    assert outside.is_valid
    assert not outside.trace_flags.sampled
    assert inside == span.get_span_context()
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left attached


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
    # Whichever configured it first in this process (this suite's fixture, or an app that
    # another suite built before it).
    first_name = provider.resource.attributes["service.name"]  # type: ignore[attr-defined]

    tracing.configure_tracing("another-app", zipkin_endpoint="http://localhost:9411/api/v2/spans")

    assert trace.get_tracer_provider() is provider
    with tracing.tracer().start_as_current_span("work"):
        pass
    (span,) = finished_spans.get_finished_spans()
    # The first configuration's service name still holds.
    assert span.resource.attributes["service.name"] == first_name != "another-app"


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
