"""The order system deployed as users deploy it (skaffold.yaml's build, hooks and kustomize
path, through scripts/cluster/skaffold_run.py), and reached as users reach it: through
`kubectl port-forward`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.integration.harness import free_port, wait_until

NAMESPACE = "dapr-order-processing"
APPS = ("order-processor", "inventory", "payment")
ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    """The deployment's order API and Zipkin, each through its own `kubectl port-forward`."""

    def __init__(self) -> None:
        self.forwards: list[subprocess.Popen[bytes]] = []
        self.api = httpx.Client(base_url=self._forward("order-processor", 80), timeout=10)
        self.zipkin = httpx.Client(base_url=self._forward("zipkin", 9411), timeout=10)

    def _forward(self, service: str, port: int) -> str:
        local = free_port()
        self.forwards.append(
            subprocess.Popen(
                [
                    "kubectl",
                    "-n",
                    NAMESPACE,
                    "port-forward",
                    f"service/{service}",
                    f"{local}:{port}",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        return f"http://127.0.0.1:{local}"

    def close(self) -> None:
        for process in self.forwards:
            process.terminate()
            process.wait(timeout=10)

    def restock(self, item: str, quantity: int, unit_price: int) -> None:
        answer = self.api.put(
            f"/inventory/{item}", json={"quantity": quantity, "unit_price": unit_price}
        )
        assert answer.status_code == 200, answer.text

    def stock(self, item: str) -> int:
        return int(self.api.get(f"/inventory/{item}").json()["quantity"])

    def place(self, item: str, quantity: int) -> str:
        answer = self.api.post("/orders", json={"item": item, "quantity": quantity})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["order_id"])

    def wait_for(
        self, order_id: str, step: str | None = None, deadline_s: float = 120
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.api.get(f"/orders/{order_id}").json())
            return seen.get("step") == step if step else seen.get("status") == "COMPLETED"

        wait_until(reached, deadline_s=deadline_s, what=f"order {order_id} at {step or 'its end'}")
        return seen
