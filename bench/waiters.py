"""`python -m bench.waiters`: what order-processor does with many long polls waiting at once.

Starts (a) as the bench does, places orders that wait for a manager (over 50 000 USD, so they
stay put), then sends N long polls at once (`GET /orders/<id>?wait=S&step=awaiting_approval`,
spread over those orders) for each N of `--clients`, and reports how they were answered (200
after the wait, 503 at once), how long the answers took, and what the order-processor app
spent meanwhile: CPU, its worker's threads and RSS. Needs the control plane (`make up`).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench import procs, systems
from bench.load import percentile

ITEM = "bigwidgets"
UNIT_PRICE = 60_000  # one unit is over the approval threshold: the order waits for a manager


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


async def _waiting_orders(client: httpx.AsyncClient, count: int, operator_token: str) -> list[str]:
    stock = {"quantity": 10_000, "unit_price": UNIT_PRICE}
    operator = {"Authorization": f"Bearer {operator_token}"}
    response = await client.put(f"/inventory/{ITEM}", json=stock, headers=operator)
    response.raise_for_status()
    orders = []
    for _ in range(count):
        placed = await client.post("/orders", json={"item": ITEM, "quantity": 1})
        placed.raise_for_status()
        orders.append(placed.json()["order_id"])
    for order_id in orders:
        step = ""
        while step != "awaiting_approval":
            answer = await client.get(f"/orders/{order_id}", params={"wait": 30, "step": step})
            answer.raise_for_status()
            step = answer.json()["step"]
    return orders


async def _burst(url: str, orders: list[str], clients: int, wait_s: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=wait_s + 60, limits=limits) as client:

        async def one(index: int) -> tuple[int, float]:
            start = time.perf_counter()
            response = await client.get(
                f"/orders/{orders[index % len(orders)]}",
                params={"wait": wait_s, "step": "awaiting_approval"},
            )
            return response.status_code, time.perf_counter() - start

        answers = await asyncio.gather(*(one(i) for i in range(clients)))
    by_code: dict[int, list[float]] = {}
    for code, seconds in answers:
        by_code.setdefault(code, []).append(seconds * 1000)
    return {
        code: {
            "count": len(ms),
            "p50_ms": round(percentile(sorted(ms), 50)),
            "max_ms": round(max(ms)),
        }
        for code, ms in sorted(by_code.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.waiters", description=__doc__)
    parser.add_argument("--clients", default="32,1000", help="comma-separated burst sizes")
    parser.add_argument("--orders", type=int, default=16, help="orders waiting for a manager")
    parser.add_argument("--wait", type=int, default=10, help="seconds each long poll may wait")
    args = parser.parse_args(argv)
    suffix = f"w{secrets.token_hex(3)}"
    scratch = Path(tempfile.mkdtemp(prefix="bench-waiters-"))
    (scratch / "a").mkdir()
    # The orders must still be waiting when the long polls come (the tests' plan gives 6 s).
    env = {"APPROVAL_TIMEOUT_SECONDS": "3600"}
    with systems.ours(scratch / "a", systems.Layout(systems.REPO), env, suffix) as target:
        assert target.api_url is not None
        app_id = target.app_ids["order-processor"]
        worker = procs.gunicorn_worker(app_id)
        assert worker is not None

        async def setup() -> list[str]:
            async with httpx.AsyncClient(base_url=target.api_url, timeout=60) as client:
                return await _waiting_orders(
                    client, args.orders, target.tokens["OPERATOR_API_TOKEN"]
                )

        orders = asyncio.run(setup())
        print(f"{len(orders)} orders waiting for a manager; order-processor worker pid {worker}")
        for clients in (int(c) for c in args.clients.split(",")):
            groups = {k: v for k, v in procs.labelled(suffix).items() if app_id in k}
            cpu_before = procs.snapshot_cpu(groups)
            threads_before = _status(worker, "Threads")
            started = time.perf_counter()
            answers = asyncio.run(_burst(target.api_url, orders, clients, args.wait))
            wall_s = time.perf_counter() - started
            cpu_after = procs.snapshot_cpu(groups)
            spent = {k: round(cpu_after[k] - cpu_before[k], 2) for k in groups}
            print(
                f"{clients} long polls at once: {answers}; wall {wall_s:.1f} s; CPU s {spent}; "
                f"worker threads {threads_before} -> {_status(worker, 'Threads')}, "
                f"RSS {_status(worker, 'VmRSS') / 1024:.0f} MB"
            )
            print("  codes:", Counter({code: v["count"] for code, v in answers.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
