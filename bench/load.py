"""Closed-loop load: `concurrency` async clients, each placing its next order once the last is done.

An order's latency is from sending its POST to the answer of the long poll that shows it
finished (for the ceiling: from scheduling to the end of the workflow client's wait).
Throughput is the orders that finished processed, divided by the wall time of the whole phase.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from dapr.ext.workflow import WorkflowStatus
from dapr.ext.workflow.aio import DaprWorkflowClient

from bench.apps.ceiling import WORKFLOW_NAME as CEILING_WORKFLOW

TERMINAL = frozenset({"COMPLETED", "FAILED", "TERMINATED"})
ORDER_DEADLINE_S = 120.0
# How long the API may hold one long poll (order_processor.watch.MAX_WAIT_SECONDS).
LONG_POLL_S = 30


@dataclass
class Outcome:
    latency_s: float
    ok: bool
    polls: int = 0
    detail: str = ""


@dataclass
class Phase:
    concurrency: int
    orders: int
    wall_s: float
    outcomes: list[Outcome]
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0

    @property
    def ok(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.ok

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return sorted(o.latency_s * 1000 for o in self.outcomes if o.ok)

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        failures = [o.detail for o in self.outcomes if not o.ok]
        return {
            "concurrency": self.concurrency,
            "orders": self.orders,
            "ok": self.ok,
            "failed": self.failed,
            "failures": failures[:10],
            "wall_s": round(self.wall_s, 3),
            "throughput": round(self.throughput, 3),
            "p50_ms": round(self.percentile(50), 1),
            "p95_ms": round(self.percentile(95), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mean_ms": round(sum(self.latencies_ms) / max(len(self.latencies_ms), 1), 1),
            "polls_per_order": round(sum(o.polls for o in self.outcomes) / max(self.orders, 1), 2),
            "cpu_s": {k: round(v, 3) for k, v in sorted(self.cpu_s.items())},
            "machine_busy_s": round(self.machine_busy_s, 3),
            "latencies_ms": [round(v, 2) for v in self.latencies_ms],
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(q / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


async def closed_loop(
    one_order: Callable[[int], Awaitable[Outcome]], *, orders: int, concurrency: int
) -> tuple[float, list[Outcome]]:
    """Run `orders` orders, `concurrency` at a time; the wall time and every outcome."""
    next_index = iter(range(orders))
    outcomes: list[Outcome] = []

    async def client() -> None:
        for index in next_index:
            outcomes.append(await one_order(index))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, outcomes


class HttpOrders:
    """Orders through the HTTP order API: `POST /orders`, then long polls of
    `GET /orders/<id>?wait=30` until the order has ended (one, unless it takes over 30 s)."""

    def __init__(self, base_url: str, item: str) -> None:
        self.item = item
        # One pooled client, keep-alive: the load generator should cost the system nothing extra.
        # Idle connections are dropped after 1 s, before gunicorn drops them (its keepalive is
        # 2 s): else a request can go out on a connection the server is closing.
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=LONG_POLL_S + 30,
            limits=httpx.Limits(
                max_connections=128, max_keepalive_connections=128, keepalive_expiry=1.0
            ),
        )

    async def order(self, _index: int) -> Outcome:
        start = time.perf_counter()
        try:
            response = await self.client.post("/orders", json={"item": self.item, "quantity": 1})
            if response.status_code != 202:
                return Outcome(time.perf_counter() - start, False, 0, f"POST {response.text[:200]}")
            order_id = response.json()["order_id"]
            polls = 0
            while time.perf_counter() - start < ORDER_DEADLINE_S:
                polls += 1
                try:
                    status = await self.client.get(
                        f"/orders/{order_id}", params={"wait": LONG_POLL_S}
                    )
                except httpx.TransportError:
                    continue  # a read is safe to repeat
                if status.status_code != 200:
                    # 503 (a sidecar restarting, too many waiting): back off as told.
                    await asyncio.sleep(float(status.headers.get("retry-after", "1")))
                    continue
                body = status.json()
                if body["status"] in TERMINAL:
                    ok = body["status"] == "COMPLETED" and bool((body["result"] or {})["processed"])
                    return Outcome(time.perf_counter() - start, ok, polls, "" if ok else str(body))
            return Outcome(time.perf_counter() - start, False, polls, f"{order_id} timed out")
        except httpx.HTTPError as err:
            return Outcome(time.perf_counter() - start, False, 0, repr(err))

    async def close(self) -> None:
        await self.client.aclose()


class CeilingWorkflows:
    """Ceiling workflows through the workflow client: schedule, then wait for completion."""

    def __init__(self, grpc_port: int) -> None:
        self.client = DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))

    async def order(self, index: int) -> Outcome:
        start = time.perf_counter()
        try:
            instance_id = await self.client.schedule_new_workflow(
                CEILING_WORKFLOW, input={"order": index, "item": "bench", "quantity": 1}
            )
            state = await self.client.wait_for_workflow_completion(
                instance_id, fetch_payloads=True, timeout_in_seconds=int(ORDER_DEADLINE_S)
            )
        except Exception as err:  # any failure is this order's outcome
            return Outcome(time.perf_counter() - start, False, 0, repr(err))
        ok = state is not None and state.runtime_status == WorkflowStatus.COMPLETED
        return Outcome(time.perf_counter() - start, ok, 0, "" if ok else str(state))

    async def close(self) -> None:
        # The SDK's async workflow client (1.18.3) has no close; its channel ends with the loop.
        return None
