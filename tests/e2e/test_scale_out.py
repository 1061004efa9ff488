"""Two order-processor replicas on one PostgreSQL actor store: orders spread over both, a replica
killed while orders are in flight loses none and charges none twice, and each replica's board
shows every order, whichever replica runs its workflow.

The load runs in a pod inside the cluster, through the order-processor Service: a port-forward
sticks to one pod, and would die with the one this test kills."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from functools import partial

import httpx
import pytest

from contracts.board import BoardState
from contracts.roles import Role
from tests.e2e.deployment import NAMESPACE, Cluster, Forward
from tests.e2e.kube import kubectl, start_python_pod
from tests.integration import report
from tests.integration.harness import answers, wait_until

ORDERS = 40

# Places ORDERS one-unit orders for a new item stocked with exactly that many, 8 at a time,
# each with an Idempotency-Key so a POST that meets the killed pod is retried into the same
# order; prints "placed", then follows every order to its end while sampling the stock, and
# prints one JSON line of figures.
LOAD = """
import json, sys, threading, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

BASE = "http://order-processor.{namespace}.svc.cluster.local"
ITEM, ORDERS = {item!r}, {orders}
OPERATOR = {{"Authorization": "Bearer " + {operator_token!r}}}

def call(method, path, body=None, headers=None, attempts=30):
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        headers = {{"Content-Type": "application/json", **(headers or {{}})}}
        request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return err.code, json.loads(err.read() or b"null")
        except OSError:
            pass
        time.sleep(min(0.2 * 2 ** attempt, 2))
    raise SystemExit(f"{{method}} {{path}}: no answer")

call("PUT", f"/inventory/{{ITEM}}", {{"quantity": ORDERS, "unit_price": 100}}, OPERATOR)
lowest = [ORDERS]
done = threading.Event()

def sample_stock():
    while not done.is_set():
        status, item = call("GET", f"/inventory/{{ITEM}}")
        if status == 200:
            lowest[0] = min(lowest[0], item["quantity"])
        time.sleep(0.2)

threading.Thread(target=sample_stock, daemon=True).start()

def place(n):
    key = f"{{ITEM}}-{{n}}"
    order = {{"item": ITEM, "quantity": 1}}
    status, body = call("POST", "/orders", order, {{"Idempotency-Key": key}})
    assert status == 202, (status, body)
    return body["order_id"]

with ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(place, range(ORDERS)))
print("placed", flush=True)

deadline = time.monotonic() + 300
results = {{}}
while len(results) < len(ids) and time.monotonic() < deadline:
    for order_id in ids:
        if order_id not in results:
            status, order = call("GET", f"/orders/{{order_id}}")
            if status == 200 and order["status"] in ("COMPLETED", "FAILED", "TERMINATED"):
                results[order_id] = order
    time.sleep(0.5)
done.set()

charges = 0
for order_id, order in results.items():
    status, payment = call("GET", f"/payments/{{order_id}}", headers=OPERATOR)
    if status == 200 and payment["status"] == "approved":
        charges += 1
status, item = call("GET", f"/inventory/{{ITEM}}")
processed = sum(1 for o in results.values() if (o.get("result") or {{}}).get("processed"))
print(json.dumps({{"orders": len(ids), "unique": len(set(ids)), "ended": len(results),
                  "processed": processed, "charges": charges, "stock": item["quantity"],
                  "lowest_stock": min(lowest[0], item["quantity"])}}), flush=True)
"""


@pytest.fixture
def two_replicas(cluster: Cluster) -> Iterator[None]:
    kubectl("-n", NAMESPACE, "scale", "deployment/order-processor", "--replicas=2")
    kubectl("-n", NAMESPACE, "rollout", "status", "deployment/order-processor", "--timeout=300s",
            timeout=310)  # fmt: skip
    yield
    kubectl("-n", NAMESPACE, "scale", "deployment/order-processor", "--replicas=1")


def order_processor_pods() -> list[str]:
    return kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=order-processor",
                   "--field-selector=status.phase=Running", "-o", "name").split()  # fmt: skip


@pytest.mark.usefixtures("two_replicas")
def test_a_replica_killed_mid_flight_loses_no_order(cluster: Cluster) -> None:
    start_python_pod(NAMESPACE, "load")
    pods = order_processor_pods()
    assert len(pods) == 2, pods
    script = LOAD.format(
        namespace=NAMESPACE,
        item=f"item-{uuid.uuid4().hex[:12]}",
        orders=ORDERS,
        operator_token=cluster.tokens[Role.OPERATOR],
    )
    load = subprocess.Popen(
        ["kubectl", "-n", NAMESPACE, "exec", "load", "--", "python3", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert load.stdout is not None
        assert load.stdout.readline().strip() == "placed"
        # Workflows are now running on both replicas: kill one, as a node failure would.
        kubectl("-n", NAMESPACE, "delete", pods[0], "--grace-period=0", "--force")
        figures = json.loads(load.stdout.readline())
        assert load.wait(timeout=60) == 0
    finally:
        load.kill()
        kubectl("-n", NAMESPACE, "delete", "pod", "load", "--wait=false")
    report.record(f"scale-out: 2 replicas, {pods[0]} force-deleted mid-flight: {figures}")
    assert figures["unique"] == ORDERS  # one order per Idempotency-Key
    assert figures["ended"] == ORDERS  # none lost
    assert figures["processed"] == ORDERS  # exactly the stock there was
    assert figures["charges"] == figures["processed"]  # one charge per processed order
    assert figures["stock"] == 0
    assert figures["lowest_stock"] >= 0


# Enough that both replicas run some (the chance that all land on one is 2 / 2**12).
BOARD_ORDERS = 12


def first_board(url: str, manager_token: str) -> BoardState:
    """The first event of the replica's board stream, signed in as the manager."""
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.post("/board/session", json={"token": manager_token}).status_code == 200
        with http.stream("GET", "/board/events", timeout=40) as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    return BoardState.model_validate_json(line.removeprefix("data: "))
    raise AssertionError("the board's stream ended without an event")


@pytest.mark.usefixtures("two_replicas")
def test_each_replicas_board_shows_every_order(cluster: Cluster) -> None:
    # The test before this one force-deleted a replica: its port-forward starts again.
    cluster.wait_ready()
    item = f"item-{uuid.uuid4().hex[:12]}"
    cluster.restock(item, quantity=BOARD_ORDERS, unit_price=100)
    placed = {cluster.place(item, 1) for _ in range(BOARD_ORDERS)}
    for order_id in placed:
        cluster.wait_for(order_id)
    pods = order_processor_pods()
    assert len(pods) == 2, pods

    shown, ran = {}, {}
    for pod in pods:
        logs = kubectl("-n", NAMESPACE, "logs", pod, "-c", "order-processor")
        # The first activity's own line: the order's workflow ran in this replica.
        ran[pod] = sum(f"Verifying inventory for order {order_id}" in logs for order_id in placed)
        forward = Forward(pod, 8080)
        try:
            wait_until(partial(answers, f"{forward.url}/readyz"), deadline_s=60, what=pod)
            board = first_board(forward.url, cluster.tokens[Role.MANAGER])
        finally:
            forward.close()
        shown[pod] = len(placed & {order.order_id for order in board.orders})
    report.record(
        f"board: 2 replicas, {BOARD_ORDERS} orders; workflows verified in each {ran}; "
        f"each board lists {shown}"
    )
    assert all(count > 0 for count in ran.values())  # the workflows ran on both replicas
    assert all(count == BOARD_ORDERS for count in shown.values())
