"""One Zipkin trace per order, across the three apps and their sidecars, checked on the real
Zipkin server that `make up` runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.harness import ZIPKIN_URL, wait_until
from tests.integration.system import PAYMENT_DECLINE_OVER, OrderApi, new_item, running_system

Span = dict[str, Any]
APPS = ("order-processor", "inventory", "payment")
# Spans made by the apps' OpenTelemetry instrumentation and by the Dapr SDK; daprd's own spans
# carry other scopes (dapr-diagnostics, durabletask).
APP_SCOPES = ("opentelemetry.instrumentation.", "dapr.ext.workflow.")
SIDECAR_SCOPES = ("dapr-diagnostics", "durabletask")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderApi]:
    with running_system(tmp_path_factory.mktemp("system")) as system:
        yield OrderApi(system)


def order_traces(order_id: str) -> list[list[Span]]:
    response = httpx.get(
        f"{ZIPKIN_URL}/api/v2/traces",
        params={"annotationQuery": f"order.id={order_id}", "lookback": 3_600_000, "limit": 10},
        timeout=5,
    )
    response.raise_for_status()
    return list(response.json())


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


def collect_trace(order_id: str, *, last_activity: str) -> list[Span]:
    """Spans reach Zipkin in batches, from six processes: wait until the last ones are in."""
    found: list[list[Span]] = []

    def complete() -> bool:
        found[:] = order_traces(order_id)
        spans = [span for trace in found for span in trace]
        served = {
            span["localEndpoint"]["serviceName"]
            for span in spans
            if span.get("kind") == "SERVER" and scope(span).startswith(APP_SCOPES)
        }
        activities = activity_spans(spans)
        return (
            served >= {"inventory", "payment"}
            and bool(activities)
            and activities[-1] == last_activity
        )

    wait_until(complete, deadline_s=60, what=f"trace of order {order_id} in Zipkin")
    assert len(found) == 1, f"{len(found)} traces for order {order_id}"
    return found[0]


def assert_one_connected_trace(spans: list[Span]) -> None:
    assert len({span["traceId"] for span in spans}) == 1
    ids = {span["id"] for span in spans}
    orphans = [
        span["name"] for span in spans if span.get("parentId") and span["parentId"] not in ids
    ]
    roots = [span["name"] for span in spans if not span.get("parentId")]
    assert orphans == []
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
