"""The order system as users deploy it (skaffold.yaml, deploy/k8s), on the local cluster: orders
through the port-forwarded API, one Zipkin trace per order, and the security the manifests
promise (mTLS identities and access control, the app token, hardened pods)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.deployment import APPS, NAMESPACE, ROOT, Cluster
from tests.e2e.kube import exec_python, kubectl, kubectl_json, start_python_pod
from tests.integration.harness import wait_until


def new_item() -> str:
    return f"item-{uuid.uuid4().hex[:12]}"


def test_an_order_completes_on_the_cluster(cluster: Cluster) -> None:
    item = new_item()
    cluster.restock(item, quantity=10, unit_price=5000)
    started = time.monotonic()
    order_id = cluster.place(item, 1)
    done = cluster.wait_for(order_id)
    print(f"first order completed {time.monotonic() - started:.1f} s after it was placed")
    assert done["result"] == {"processed": True, "reason": None, "total": 5000}
    assert cluster.stock(item) == 9
    payment = cluster.api.get(f"/payments/{order_id}").json()
    assert (payment["status"], payment["amount"]) == ("approved", 5000)


@pytest.mark.parametrize(("approved", "processed"), [(True, True), (False, False)])
def test_a_large_order_waits_for_a_manager(
    cluster: Cluster, approved: bool, processed: bool
) -> None:
    item = new_item()
    cluster.restock(item, quantity=20, unit_price=5000)
    order_id = cluster.place(item, 11)
    cluster.wait_for(order_id, step="awaiting_approval")
    assert cluster.stock(item) == 9
    answer = cluster.api.post(f"/orders/{order_id}/approval", json={"approved": approved})
    assert answer.status_code == 202, answer.text
    done = cluster.wait_for(order_id)
    assert done["result"]["processed"] is processed
    assert cluster.stock(item) == (9 if processed else 20)


def test_an_order_is_one_trace_across_apps_and_sidecars(cluster: Cluster) -> None:
    item = new_item()
    cluster.restock(item, quantity=10, unit_price=5000)
    order_id = cluster.place(item, 1)
    cluster.wait_for(order_id)
    traces: list[list[dict[str, Any]]] = []

    def complete() -> bool:
        traces[:] = cluster.zipkin.get(
            "/api/v2/traces", params={"annotationQuery": f"order.id={order_id}", "limit": 10}
        ).json()
        spans = [span for trace in traces for span in trace]
        ids = {span["id"] for span in spans}
        services = {span["localEndpoint"]["serviceName"] for span in spans}
        orphans = [span for span in spans if span.get("parentId") and span["parentId"] not in ids]
        return services >= set(APPS) and not orphans

    wait_until(complete, deadline_s=60, what=f"a whole trace of order {order_id}")
    assert len(traces) == 1
    scopes = {
        (span["localEndpoint"]["serviceName"], span.get("tags", {}).get("otel.scope.name", ""))
        for span in traces[0]
    }
    for app in APPS:
        assert any(
            s == app and scope.startswith(("opentelemetry.", "dapr.")) for s, scope in scopes
        ), app
        assert any(
            s == app and scope in ("dapr-diagnostics", "durabletask") for s, scope in scopes
        ), app


INTRUDER = "intruder"


@pytest.fixture(scope="module")
def intruder(cluster: Cluster) -> Iterator[str]:
    """A pod with a Dapr sidecar and an app id that no accessControl policy names."""
    start_python_pod(NAMESPACE, INTRUDER, dapr_app_id=INTRUDER)
    yield INTRUDER
    kubectl("-n", NAMESPACE, "delete", "pod", INTRUDER, "--wait=false")


CALL = """
import json, urllib.error, urllib.request
try:
    with urllib.request.urlopen({url!r}, timeout=30) as answer:
        print(json.dumps([answer.status, answer.read().decode()]))
except urllib.error.HTTPError as err:
    print(json.dumps([err.code, err.read().decode()]))
"""


def call_from(pod: str, url: str) -> tuple[int, str]:
    status, body = json.loads(exec_python(NAMESPACE, pod, CALL.format(url=url)))
    print(f"{pod} GET {url}: {status} {body[:160]}")
    return int(status), str(body)


@pytest.mark.parametrize("target", ["payment", "inventory"])
def test_access_control_refuses_an_app_id_it_does_not_name(intruder: str, target: str) -> None:
    status, body = call_from(intruder, f"http://localhost:3500/v1.0/invoke/{target}/method/healthz")
    assert status == 403
    assert (
        f"access control policy has denied access to id: spiffe://public/ns/{NAMESPACE}/{INTRUDER}"
        in body
    )


@pytest.mark.parametrize(
    ("target", "path"), [("payment", "/payments/x"), ("inventory", "/inventory/cars")]
)
def test_an_app_refuses_a_call_without_the_app_token(intruder: str, target: str, path: str) -> None:
    status, _ = call_from(intruder, f"http://{target}.{NAMESPACE}.svc.cluster.local{path}")
    assert status == 401


def test_mtls_is_on() -> None:
    config = kubectl_json("-n", "dapr-system", "get", "configurations.dapr.io", "daprsystem")
    assert config["spec"]["mtls"]["enabled"] is True


@pytest.mark.parametrize("app", APPS)
def test_the_app_runs_as_the_image_user_on_a_read_only_root(cluster: Cluster, app: str) -> None:
    pod = kubectl("-n", NAMESPACE, "get", "pod", "-l", f"app={app}", "-o", "name").split()[0]
    uid = kubectl("-n", NAMESPACE, "exec", pod, "-c", app, "--", "id", "-u").strip()
    write = subprocess.run(
        ["kubectl", "-n", NAMESPACE, "exec", pod, "-c", app, "--", "touch", "/app/written"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert uid == "10001"
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


@pytest.mark.parametrize("path", ["deploy/k8s/base", "deploy/k8s/overlays/dev"])
def test_the_apiserver_accepts_every_manifest(cluster: Cluster, path: str) -> None:
    """What the offline schemas approximate, asked of the real apiserver with Dapr's CRDs and
    admission webhooks in place; nothing is changed (server-side dry run)."""
    rendered = kubectl("kustomize", str(ROOT / path))
    out = kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    print(out)
    assert out.count("(server dry run)") == rendered.count("\nkind: ") + rendered.startswith(
        "kind: "
    )


def test_an_order_completes_across_an_inventory_restart(cluster: Cluster) -> None:
    """The order holds stock in inventory, inventory's pod (app and sidecar) is replaced, and the
    order's next call to inventory reaches the new pod: retries and Resiliency as deployed."""
    item = new_item()
    cluster.restock(item, quantity=20, unit_price=5000)
    order_id = cluster.place(item, 11)
    cluster.wait_for(order_id, step="awaiting_approval")
    kubectl("-n", NAMESPACE, "rollout", "restart", "deployment/inventory")
    kubectl("-n", NAMESPACE, "rollout", "status", "deployment/inventory", "--timeout=300s",
            timeout=310)  # fmt: skip
    started = time.monotonic()
    cluster.api.post(f"/orders/{order_id}/approval", json={"approved": True})
    done = cluster.wait_for(order_id)
    print(f"first order after an inventory restart completed in {time.monotonic() - started:.1f} s")
    assert done["result"] == {"processed": True, "reason": None, "total": 55000}
    assert cluster.stock(item) == 9
