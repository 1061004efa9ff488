"""The order system deployed as users deploy it (skaffold.yaml's build, hooks and kustomize
path, through scripts/cluster/skaffold_run.py), and reached as users reach it: through
`kubectl port-forward`."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from contracts.roles import Role
from tests.e2e.kube import kubectl
from tests.integration.harness import answers, free_port, wait_until

NAMESPACE = "dapr-order-processing"
APPS = ("order-processor", "inventory", "payment")
ROOT = Path(__file__).resolve().parents[2]


class Forward:
    """`kubectl port-forward` to a Service (or a ``pod/<name>``) on a fixed local port, started
    again whenever it ends, as skaffold and `make cluster-run` keep theirs: a forward to a
    Service sticks to one pod and ends with it (a rollout, a deleted pod, the node's power
    loss)."""

    def __init__(self, service: str, port: int) -> None:
        self.target = service if "/" in service else f"service/{service}"
        self.port, self.local = port, free_port()
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._start()
        threading.Thread(target=self._keep_up, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local}"

    def _start(self) -> None:
        self._process = subprocess.Popen(
            ["kubectl", "-n", NAMESPACE, "port-forward", self.target,
             f"{self.local}:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _keep_up(self) -> None:
        while not self._stopping.wait(0.2):
            if self._process is not None and self._process.poll() is not None:
                self.restarts += 1
                self._start()

    def replace(self) -> None:
        """A new forward now, to a pod the Service selects now (after a rollout)."""
        if self._process is not None:
            self._process.terminate()

    def close(self) -> None:
        self._stopping.set()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def role_tokens() -> dict[Role, str]:
    """The order API's role tokens, from the Secrets skaffold's hook made."""
    tokens = {}
    for role in Role:
        secret = kubectl("-n", NAMESPACE, "get", "secret", f"{role}-api-token", "-o",
                         "jsonpath={.data.token}")  # fmt: skip
        tokens[role] = base64.b64decode(secret).decode()
    return tokens


class Cluster:
    """The deployment's order API and Zipkin, each through its own kept `kubectl port-forward`;
    `api` calls as a customer (no token), `bearer()` gives a role's header."""

    def __init__(self) -> None:
        self.tokens = role_tokens()
        self.forwards = {"order-processor": Forward("order-processor", 80),
                         "zipkin": Forward("zipkin", 9411)}  # fmt: skip
        self.api = httpx.Client(base_url=self.forwards["order-processor"].url, timeout=10)
        self.zipkin = httpx.Client(base_url=self.forwards["zipkin"].url, timeout=10)

    def close(self) -> None:
        for forward in self.forwards.values():
            forward.close()

    def wait_ready(self, deadline_s: float = 180) -> None:
        api, zipkin = (
            str(self.api.base_url.join("/readyz")),
            str(self.zipkin.base_url.join("/health")),
        )
        wait_until(lambda: answers(api), deadline_s=deadline_s, what="the order API")
        wait_until(lambda: answers(zipkin), deadline_s=deadline_s, what="Zipkin")

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
        self.wait_rolled_out(deployment)

    def wait_rolled_out(self, workload: str, namespace: str = NAMESPACE) -> None:
        """Until the workload's new pods are Ready and its old ones gone; then until the API
        answers through its (kept) forward."""
        kubectl("-n", namespace, "rollout", "status", workload, "--timeout=300s", timeout=310)
        self.forwards["order-processor"].replace()
        self.wait_ready()

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def approve(self, order_id: str, approved: bool = True) -> httpx.Response:
        """A manager's decision."""
        return self.api.post(
            f"/orders/{order_id}/approval",
            json={"approved": approved},
            headers=self.bearer(Role.MANAGER),
        )

    def payment(self, order_id: str) -> dict[str, Any] | None:
        answer = self.api.get(f"/payments/{order_id}", headers=self.bearer(Role.OPERATOR))
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def restock(self, item: str, quantity: int, unit_price: int) -> None:
        answer = self.api.put(
            f"/inventory/{item}",
            json={"quantity": quantity, "unit_price": unit_price},
            headers=self.bearer(Role.OPERATOR),
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
