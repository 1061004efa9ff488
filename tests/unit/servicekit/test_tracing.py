"""Probes leave no trace: not their own request, not the checks they make through the sidecar;
and the sampler is the one the standard OpenTelemetry variables name."""

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
