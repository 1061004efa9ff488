"""Fixtures for the unit tests: each service's app wired to fakes, never to a sidecar."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import inventory
import payment
from inventory.settings import Settings as InventorySettings
from payment.settings import Settings as PaymentSettings
from servicekit import tracing
from servicekit.invoke import DaprInvoker
from servicekit.settings import ServiceSettings
from tests.unit.fakes import DaprMesh, FakeStateClient, sidecar_clients

_finished_spans = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def tracer_provider() -> None:
    """Spans get real ids (for logs and propagation); tests read them from memory."""
    tracing.configure_tracing("unit-tests", zipkin_endpoint=None)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(_finished_spans))


@pytest.fixture
def finished_spans() -> InMemorySpanExporter:
    _finished_spans.clear()
    return _finished_spans


@pytest.fixture
def state_client() -> FakeStateClient:
    return FakeStateClient()


@pytest.fixture
def inventory_app(state_client: FakeStateClient) -> Flask:
    return inventory.create_app(
        InventorySettings(),
        **sidecar_clients(state_client),
    )


@pytest.fixture
def payment_app(state_client: FakeStateClient) -> Flask:
    return payment.create_app(
        PaymentSettings(payment_decline_over=1_000_000),
        **sidecar_clients(state_client),
    )


@pytest.fixture
def mesh(inventory_app: Flask, payment_app: Flask) -> DaprMesh:
    """The other services, reachable only through (fake) Dapr service invocation."""
    return DaprMesh(apps={"inventory": inventory_app, "payment": payment_app})


@pytest.fixture
def invoker(mesh: DaprMesh) -> Iterator[DaprInvoker]:
    client = DaprInvoker(ServiceSettings(app_id="order-processor"), transport=mesh.transport())
    yield client
    client.close()


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """For tests that install gunicorn's worker signal handlers in the test process."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGQUIT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
