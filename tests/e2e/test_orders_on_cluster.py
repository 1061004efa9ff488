"""The order system as users deploy it (skaffold.yaml, deploy/k8s), on the local cluster: orders
through the port-forwarded API, one Zipkin trace per order, and the security the manifests
promise (mTLS identities and access control, the app token, hardened pods)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.deployment import APPS, NAMESPACE, ROOT, Cluster
from tests.e2e.kube import exec_python, kubectl, kubectl_json, start_python_pod
from tests.integration import report
from tests.integration.harness import answers, free_port, wait_until
from tests.roles import CELLS, credential, request_body


def new_item() -> str:
    return f"item-{uuid.uuid4().hex[:12]}"


def test_an_order_completes_once_per_idempotency_key(cluster: Cluster) -> None:
    item = new_item()
    cluster.restock(item, quantity=10, unit_price=5000)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    started = time.monotonic()
    order_id = cluster.place(item, 1, **key)
    done = cluster.wait_for(order_id)
    since_make = time.time() - float(os.environ.get("E2E_STARTED_AT", time.time()))
    report.record(
        f"first order: completed {time.monotonic() - started:.1f} s after it was placed, "
        f"{since_make:.0f} s after `make e2e` started"
    )
    assert cluster.place(item, 1, **key) == order_id  # a retried POST: the same order
    assert done["result"] == {"processed": True, "reason": None, "total": 5000}
    assert cluster.stock(item) == 9
    assert (cluster.payment(order_id) or {}).get("amount") == 5000


def test_an_order_beyond_the_stock_is_not_processed(cluster: Cluster) -> None:
    item = new_item()
    cluster.restock(item, quantity=2, unit_price=5000)
    order_id = cluster.place(item, 3)
    done = cluster.wait_for(order_id)
    assert done["result"] == {"processed": False, "reason": "insufficient_inventory", "total": None}
    assert cluster.stock(item) == 2
    assert cluster.payment(order_id) is None


@pytest.mark.parametrize(
    ("approved", "result", "stock", "charged"),
    [
        (True, {"processed": True, "reason": None, "total": 55000}, 9, 55000),
        (False, {"processed": False, "reason": "approval_rejected", "total": 55000}, 20, None),
    ],
    ids=["approved", "rejected"],
)
def test_a_large_order_waits_for_a_manager(
    cluster: Cluster, approved: bool, result: dict[str, Any], stock: int, charged: int | None
) -> None:
    item = new_item()
    cluster.restock(item, quantity=20, unit_price=5000)
    order_id = cluster.place(item, 11)
    cluster.wait_for(order_id, step="awaiting_approval")
    assert cluster.stock(item) == 9
    answer = cluster.approve(order_id, approved)
    assert answer.status_code == 202, answer.text
    done = cluster.wait_for(order_id)
    assert done["result"] == result
    assert cluster.stock(item) == stock
    payment = cluster.payment(order_id)
    assert (payment or {}).get("amount") == charged


def test_a_declined_payment_leaves_the_stock_alone(cluster: Cluster) -> None:
    # Payment declines amounts over 1 000 000 USD (PAYMENT_DECLINE_OVER, as deployed).
    item = new_item()
    cluster.restock(item, quantity=5, unit_price=1_000_001)
    order_id = cluster.place(item, 1)
    cluster.wait_for(order_id, step="awaiting_approval")
    cluster.approve(order_id)
    done = cluster.wait_for(order_id)
    assert done["result"] == {"processed": False, "reason": "payment_declined", "total": 1_000_001}
    assert cluster.stock(item) == 5
    assert (cluster.payment(order_id) or {}).get("status") == "declined"


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
    report.record(f"access control: {pod} GET {url}: {status} {body[:200]}")
    return int(status), str(body)


@pytest.mark.parametrize(
    ("target", "path"), [("payment", "payments/x"), ("inventory", "inventory/cars")]
)
def test_access_control_refuses_an_app_id_it_does_not_name(
    intruder: str, target: str, path: str
) -> None:
    status, body = call_from(intruder, f"http://localhost:3500/v1.0/invoke/{target}/method/{path}")
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


def test_probes_and_health_checks_leave_no_trace(cluster: Cluster) -> None:
    """kubelet's probes (every 2 to 10 s a pod) and each sidecar's app health check (every
    5 s) must start no trace: they would push the orders out of Zipkin's listing."""

    def youngest_s() -> float:
        pods = kubectl_json(
            "-n", NAMESPACE, "get", "pods", "-l", "app in (order-processor,inventory,payment)"
        )
        return min(time.time() - _timestamp(pod["status"]["startTime"]) for pod in pods["items"])

    # Until every pod has been probed a few times (a deploy that just rolled a pod out).
    wait_until(lambda: youngest_s() > 30, deadline_s=60, what="pods probed for 30 s")
    lookback_s = youngest_s()
    traces = cluster.zipkin.get(
        "/api/v2/traces", params={"lookback": int(lookback_s * 1000), "limit": 100_000}
    ).json()
    roots = Counter(
        (span["localEndpoint"]["serviceName"], span["name"])
        for trace in traces
        for span in trace
        if not span.get("parentId")
    )
    report.record(
        f"trace noise: {len(traces)} traces in the {lookback_s:.0f} s since the pods started, "
        f"{sum(roots.values())} roots, none a probe: {dict(roots)}"
    )
    assert roots
    assert [root for root in roots if "healthz" in root[1] or "readyz" in root[1]] == []


def _timestamp(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


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
    cluster.approve(order_id)
    done = cluster.wait_for(order_id)
    took_s = time.monotonic() - started
    # What order-processor's sidecar did meanwhile: its Resiliency retries and breaker.
    sidecar = kubectl("-n", NAMESPACE, "logs", "deployment/order-processor", "-c", "daprd",
                      f"--since={int(took_s) + 5}s")  # fmt: skip
    calls = [line for line in sidecar.splitlines() if "endpoint[inventory" in line]
    report.record(
        f"inventory restart: the order waiting across it completed {took_s:.1f} s after its "
        f"approval; order-processor's sidecar logged {len(calls)} retries or recoveries of calls "
        f"to inventory meanwhile"
    )
    assert done["result"] == {"processed": True, "reason": None, "total": 55000}
    assert cluster.stock(item) == 9


def test_an_order_the_manager_never_decides_times_out(cluster: Cluster) -> None:
    """With a short approval timeout (order-processor rolled out with it, and back after)."""
    item = new_item()
    cluster.restock(item, quantity=20, unit_price=5000)
    with cluster.order_processor_env("APPROVAL_TIMEOUT_SECONDS", "5"):
        order_id = cluster.place(item, 11)
        done = cluster.wait_for(order_id)
    assert done["result"] == {"processed": False, "reason": "approval_timeout", "total": 55000}
    assert cluster.stock(item) == 20
    assert cluster.payment(order_id) is None


def test_refused_bodies_leave_the_port_forward_up(cluster: Cluster) -> None:
    """A plain client (urllib: no `Expect: 100-continue`) sends bodies the API refuses through
    one `kubectl port-forward`, which ends for good if the app closes on a body still
    arriving. Each gets its JSON 413, and the same forward serves /readyz after."""
    local = free_port()
    forward = subprocess.Popen(
        ["kubectl", "-n", NAMESPACE, "port-forward", "service/order-processor", f"{local}:80"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{local}/readyz"), deadline_s=60,
                   what="the port-forward")  # fmt: skip
        sizes = [20_000 + i * (2_000_000 - 20_000) // 19 for i in range(20)]
        answered = [_post_body(local, size) for size in sizes]
        ready = urllib.request.urlopen(f"http://127.0.0.1:{local}/readyz", timeout=10).status
        alive = forward.poll() is None
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    report.record(
        f"refused bodies: {len(sizes)} POSTs of {sizes[0] // 1000} KB to {sizes[-1] // 1000} KB "
        f"through one port-forward: {Counter(status for status, _ in answered)}; then /readyz "
        f"{ready}, forward {'up' if alive else 'gone'}"
    )
    assert [status for status, _ in answered] == [413] * len(sizes)
    assert all(body.get("error") for _, body in answered), answered
    assert ready == 200
    assert alive


def _post_body(port: int, size: int) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/orders", data=b"x" * size, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


ROLES = ("order_processor", "inventory", "payment")


@pytest.mark.parametrize("role", ROLES)
def test_each_services_role_reaches_only_its_own_database(cluster: Cluster, role: str) -> None:
    """With its own password (from its own Secret, as its sidecar has it), a service's role
    connects to its own database and to no other, the superuser's included."""
    reached = {}
    for database in (*ROLES, "postgres"):
        probe = subprocess.run(
            ["kubectl", "-n", NAMESPACE, "exec", "postgres-0", "--", "sh", "-c",
             f'PGPASSWORD="${role.upper()}_PASSWORD" psql -h 127.0.0.1 -U {role} -d {database} '
             '-tAc "select current_user"'],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        reached[database] = probe.returncode == 0 and probe.stdout.strip() == role
        if database != role:
            assert "User does not have CONNECT privilege" in probe.stderr, probe.stderr
    report.record(f"postgres: role {role} reaches {[db for db, ok in reached.items() if ok]}")
    assert reached == {database: database == role for database in reached}


@dataclass
class RoleWorld:
    item: str
    paid: str
    waiting: str  # waits for a manager all along: only refusals and reads meet it


@pytest.fixture(scope="module")
def role_world(cluster: Cluster) -> RoleWorld:
    item = new_item()
    cluster.restock(item, quantity=1000, unit_price=5000)
    paid = cluster.place(item, 1)
    assert cluster.wait_for(paid)["result"]["processed"] is True
    waiting = cluster.place(item, 11)
    cluster.wait_for(waiting, step="awaiting_approval")
    return RoleWorld(item, paid, waiting)


@pytest.mark.parametrize(("request_line", "caller", "status"), CELLS, ids=str)
def test_the_role_matrix_holds_on_the_cluster(
    cluster: Cluster, role_world: RoleWorld, request_line: str, caller: str, status: int
) -> None:
    """tests/integration/test_roles.py's matrix, with the tokens from the cluster's Secrets,
    through the port-forward."""
    method, target, *variant = request_line.split()
    order = role_world.waiting
    if target == "/orders/{order}/approval" and status == 202:
        # Decided here: an order of its own, on an item of its own, whose end (after this
        # test) leaves the item the other cells watch alone.
        own_item = new_item()
        cluster.restock(own_item, quantity=11, unit_price=5000)
        order = cluster.place(own_item, 11)
        cluster.wait_for(order, step="awaiting_approval")
    path = target.format(order=order, item=role_world.item, paid=role_world.paid)
    body = request_body(method, target, malformed=variant == ["malformed"], item=new_item())
    stock_before = cluster.api.get(f"/inventory/{role_world.item}").json()
    answer = cluster.api.request(
        method, path, content=body,
        headers={"Content-Type": "application/json", **credential(caller, cluster.bearer)},
    )  # fmt: skip
    assert answer.status_code == status, answer.text
    if status in (401, 403):
        assert answer.json()["fields"][0]["field"] == "Authorization"
        assert cluster.api.get(f"/orders/{order}").json()["step"] == "awaiting_approval"
        assert cluster.api.get(f"/inventory/{role_world.item}").json() == stock_before
