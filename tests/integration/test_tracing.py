"""One Zipkin trace per order, across the three apps and their sidecars, checked on the real
Zipkin server that `make up` runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.harness import ZIPKIN_URL, wait_until
from tests.integration.system import (
    PAYMENT_DECLINE_OVER,
    OrderApi,
    Plan,
    new_item,
    running_system,
)

Span = dict[str, Any]
APPS = ("order-processor", "inventory", "payment")
# Spans made by the apps' OpenTelemetry instrumentation and by the Dapr SDK; daprd's own spans
# carry other scopes (dapr-diagnostics, durabletask).
APP_SCOPES = ("opentelemetry.instrumentation.", "dapr.ext.workflow.")
SIDECAR_SCOPES = ("dapr-diagnostics", "durabletask")


# Every app span of this module's system carries this tag (OpenTelemetry resource attribute),
# so its traces can be told from those of anything else reporting to the shared Zipkin.
RUN = uuid.uuid4().hex
RUN_TAG = "test.run"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    env = {"OTEL_RESOURCE_ATTRIBUTES": f"{RUN_TAG}={RUN}"}
    with running_system(tmp_path_factory.mktemp("system"), env) as plan:
        yield plan


@pytest.fixture(scope="module")
def api(system: Plan) -> OrderApi:
    return OrderApi(system)


def traces_tagged(tag: str, value: str, limit: int = 10) -> list[list[Span]]:
    response = httpx.get(
        f"{ZIPKIN_URL}/api/v2/traces",
        params={"annotationQuery": f"{tag}={value}", "lookback": 3_600_000, "limit": limit},
        timeout=5,
    )
    response.raise_for_status()
    return list(response.json())


def order_traces(order_id: str) -> list[list[Span]]:
    return traces_tagged("order.id", order_id)


def scope(span: Span) -> str:
    return str(span.get("tags", {}).get("otel.scope.name", ""))


def activity_spans(spans: list[Span]) -> list[str]:
    """The SDK's spans around our activity code, in the order they ran."""
    ordered = sorted(spans, key=lambda span: int(span["timestamp"]))
    return [
        span["name"].removeprefix("activity: ")
        for span in ordered
        if span["name"].startswith("activity: ")
    ]


def orphans(spans: list[Span]) -> list[str]:
    """Spans whose parent is not (yet) in the trace."""
    ids = {span["id"] for span in spans}
    return [span["name"] for span in spans if span.get("parentId") and span["parentId"] not in ids]


def reporters(spans: list[Span]) -> set[tuple[str, str]]:
    """(service, "app" or "sidecar") of every process that reported spans of the trace."""
    found = set()
    for span in spans:
        kind = "app" if scope(span).startswith(APP_SCOPES) else None
        kind = "sidecar" if scope(span) in SIDECAR_SCOPES else kind
        if kind:
            found.add((span["localEndpoint"]["serviceName"], kind))
    return found


def collect_trace(order_id: str, *, last_activity: str) -> list[Span]:
    """Spans reach Zipkin in batches, from six processes (each app's exporter sends every few
    seconds, and later on a busy machine): judge the trace only once it is whole, i.e. no span
    misses its parent, every app and every sidecar has reported, and the last activity is in."""
    found: list[list[Span]] = []
    expected = {(app, kind) for app in APPS for kind in ("app", "sidecar")}

    def complete() -> bool:
        found[:] = order_traces(order_id)
        spans = [span for trace in found for span in trace]
        activities = activity_spans(spans)
        return (
            not orphans(spans)
            and reporters(spans) >= expected
            and bool(activities)
            and activities[-1] == last_activity
        )

    wait_until(complete, deadline_s=90, what=f"whole trace of order {order_id} in Zipkin")
    assert len(found) == 1, f"{len(found)} traces for order {order_id}"
    return found[0]


def assert_one_connected_trace(spans: list[Span]) -> None:
    assert len({span["traceId"] for span in spans}) == 1
    roots = [span["name"] for span in spans if not span.get("parentId")]
    assert orphans(spans) == []
    assert roots == ["post /orders"]


def assert_apps_and_sidecars_report(spans: list[Span]) -> None:
    for app in APPS:
        mine = [span for span in spans if span["localEndpoint"]["serviceName"] == app]
        assert any(scope(span).startswith(APP_SCOPES) for span in mine), f"no app span from {app}"
        assert any(scope(span) in SIDECAR_SCOPES for span in mine), f"no sidecar span from {app}"


def collect_order_trace(order_id: str) -> list[Span]:
    """The order's trace once its last notification is in, checked to be one connected trace
    that every app and its sidecar report to."""
    spans = collect_trace(order_id, last_activity="notify_activity")
    assert_one_connected_trace(spans)
    assert_apps_and_sidecars_report(spans)
    return spans


def test_an_order_is_one_trace_across_all_services(api: OrderApi) -> None:
    item = new_item()
    api.restock(item, quantity=10, unit_price=5000)
    order_id = api.place(item, 1)
    assert api.wait_for(order_id)["result"]["processed"] is True

    spans = collect_order_trace(order_id)

    assert activity_spans(spans) == [
        "verify_inventory_activity",
        "notify_activity",
        "process_payment_activity",
        "update_inventory_activity",
        "notify_activity",
    ]
    tagged = {span["name"] for span in spans if span.get("tags", {}).get("order.id") == order_id}
    assert "post /orders" in tagged
    assert {"post /reservations", "post /reservations/<order_id>/commit"} <= tagged


def test_a_declined_payment_is_traced_with_its_error(api: OrderApi) -> None:
    _, order_id = api.place_awaiting_approval(
        stock=5, quantity=1, unit_price=PAYMENT_DECLINE_OVER + 1
    )
    api.decide(order_id, approved=True)
    assert api.wait_for(order_id)["result"]["reason"] == "payment_declined"

    spans = collect_order_trace(order_id)

    assert activity_spans(spans) == [
        "verify_inventory_activity",
        "notify_activity",
        "request_approval_activity",
        "process_payment_activity",
        "release_inventory_activity",
        "notify_activity",
    ]
    failed = {
        (span["localEndpoint"]["serviceName"], span["name"])
        for span in spans
        if "payment declined" in span.get("tags", {}).get("error", "")
    }
    assert failed == {
        ("order-processor", "activity: process_payment_activity"),
        ("payment", "post /payments"),
    }


def test_probes_and_the_workflow_worker_s_housekeeping_leave_no_trace(
    system: Plan, api: OrderApi
) -> None:
    # What kubelet and daprd's app health check do, every few seconds; /readyz asks the
    # sidecar or the workflow engine, which would trace the call if asked to.
    for app in system.apps.values():
        for path in ("/healthz", "/readyz"):
            for _ in range(3):
                assert httpx.get(f"{app.url}{path}", timeout=5).status_code == 200
    # An order after the probes: once its whole trace is in Zipkin, every app has exported
    # what it recorded before it (each app's exporter sends its spans in the order they end).
    item = new_item()
    api.restock(item, quantity=10, unit_price=10)
    order_id = api.place(item, 1)
    assert api.wait_for(order_id)["result"]["processed"] is True
    collect_trace(order_id, last_activity="notify_activity")

    traces = traces_tagged(RUN_TAG, RUN, limit=10_000)

    # Every trace of this system starts at a request someone made to an app (an order, a
    # restock, a status read): none at a probe, none at a call the app made by itself.
    roots = {
        (span["localEndpoint"]["serviceName"], span.get("kind"), span["name"])
        for trace in traces
        for span in trace
        if not span.get("parentId")
    }
    assert roots, "no trace of this run found"
    assert {root for root in roots if root[1] != "SERVER"} == set()
    assert {root for root in roots if "healthz" in root[2] or "readyz" in root[2]} == set()
