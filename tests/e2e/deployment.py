"""The order system deployed as users deploy it (skaffold.yaml's build, hooks and kustomize
path, through scripts/cluster/skaffold_run.py), and reached as users reach it: through
`kubectl port-forward`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.kube import kubectl
from tests.integration.harness import answers, free_port, wait_until

NAMESPACE = "dapr-order-processing"
APPS = ("order-processor", "inventory", "payment")
ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    """The deployment's order API and Zipkin, each through its own `kubectl port-forward`."""

    def __init__(self) -> None:
        self.forwards: dict[str, subprocess.Popen[bytes]] = {}
        self.api = httpx.Client(base_url=self._forward("order-processor", 80), timeout=10)
        self.zipkin = httpx.Client(base_url=self._forward("zipkin", 9411), timeout=10)

    def _forward(self, service: str, port: int) -> str:
        local = free_port()
        self.forwards[service] = subprocess.Popen(
            ["kubectl", "-n", NAMESPACE, "port-forward", f"service/{service}", f"{local}:{port}"],
            stdout=subprocess.DEVNULL,
        )
        return f"http://127.0.0.1:{local}"

    def close(self) -> None:
        for process in self.forwards.values():
            process.terminate()
            process.wait(timeout=10)

    def wait_ready(self) -> None:
        api, zipkin = (
            str(self.api.base_url.join("/readyz")),
            str(self.zipkin.base_url.join("/health")),
        )
        wait_until(lambda: answers(api), deadline_s=180, what="the order API")
        wait_until(lambda: answers(zipkin), deadline_s=180, what="Zipkin")

    @contextmanager
    def order_processor_env(self, name: str, value: str) -> Iterator[None]:
        """order-processor rolled out with one more environment variable, and back after."""
        self._roll_out_order_processor(f"{name}={value}")
        try:
            yield
        finally:
            self._roll_out_order_processor(f"{name}-")

    def _roll_out_order_processor(self, env: str) -> None:
        deployment = "deployment/order-processor"
        kubectl("-n", NAMESPACE, "set", "env", deployment, "-c", "order-processor", env)
        kubectl("-n", NAMESPACE, "rollout", "status", deployment, "--timeout=300s", timeout=310)
        # A forward to a Service sticks to the pod it found, and that pod is gone.
        gone = self.forwards.pop("order-processor")
        gone.terminate()
        gone.wait(timeout=10)
        self.api.base_url = httpx.URL(self._forward("order-processor", 80))
        self.wait_ready()

    def payment(self, order_id: str) -> dict[str, Any] | None:
        answer = self.api.get(f"/payments/{order_id}")
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def restock(self, item: str, quantity: int, unit_price: int) -> None:
        answer = self.api.put(
            f"/inventory/{item}", json={"quantity": quantity, "unit_price": unit_price}
        )
        assert answer.status_code == 200, answer.text

    def stock(self, item: str) -> int:
        return int(self.api.get(f"/inventory/{item}").json()["quantity"])

    def place(self, item: str, quantity: int, **headers: str) -> str:
        answer = self.api.post(
            "/orders", json={"item": item, "quantity": quantity}, headers=headers
        )
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
