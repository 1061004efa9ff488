"""The whole system on the real runtime, started from the repo's own dapr.yaml.

Only what must differ for a test run is changed: free ports (so a running `make run` is left
alone), SQLite files in a temporary folder, a short approval timeout, the demo off.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.integration.harness import answers, cli_env, dapr_cli, free_port, stop, wait_until

REPO = Path(__file__).resolve().parents[2]

# Business settings the tests rely on; each test names its own items, so tests never share stock.
APPROVAL_TIMEOUT_SECONDS = 6
PAYMENT_DECLINE_OVER = 100_000


@dataclass
class App:
    app_id: str
    app_port: int
    http_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass
class System:
    apps: dict[str, App]
    run_file: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, app_id: str) -> str:
        return self.apps[app_id].url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _resources(target: Path, state_dir: Path) -> Path:
    """The repo's components, with each SQLite file moved into the test's own folder."""
    target.mkdir()
    for source in sorted((REPO / "components").glob("*.yaml")):
        doc = yaml.safe_load(source.read_text())
        if doc.get("kind") == "Component" and doc["spec"]["type"] == "state.sqlite":
            for item in doc["spec"]["metadata"]:
                if item["name"] == "connectionString":
                    item["value"] = str(state_dir / Path(item["value"]).name)
        (target / source.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


def _run_file(workdir: Path, env: dict[str, str]) -> tuple[Path, dict[str, App]]:
    run: dict[str, Any] = yaml.safe_load((REPO / "dapr.yaml").read_text())
    state_dir = workdir / "state"
    state_dir.mkdir()
    common = run["common"]
    common["resourcesPath"] = str(_resources(workdir / "resources", state_dir))
    common["configFilePath"] = str(REPO / common["configFilePath"])
    common["env"] = {**common.get("env", {}), **env}
    apps: dict[str, App] = {}
    for app in run["apps"]:
        app["appDirPath"] = str(REPO / app["appDirPath"])
        app["appPort"], app["daprHTTPPort"] = free_port(), free_port()
        app["daprGRPCPort"], app["metricsPort"] = free_port(), free_port()
        app["env"] = {**app.get("env", {}), "RUN_DEMO": "false"}
        apps[app["appID"]] = App(app["appID"], app["appPort"], app["daprHTTPPort"])
    path = workdir / "dapr.yaml"
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path, apps


@contextmanager
def running_system(workdir: Path, env: dict[str, str] | None = None) -> Iterator[System]:
    """`dapr run -f` the three apps; yields once every app and sidecar is ready."""
    settings = {
        "APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_SECONDS),
        "PAYMENT_DECLINE_OVER": str(PAYMENT_DECLINE_OVER),
        **(env or {}),
    }
    run_file, apps = _run_file(workdir, settings)
    log_path = workdir / "dapr-run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dapr_cli(), "run", "-f", str(run_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cli_env(),
            start_new_session=True,
        )
    system = System(apps, run_file, process, log_path)
    try:
        for app in apps.values():
            wait_until(
                lambda app=app: (
                    process.poll() is None  # type: ignore[misc]
                    and answers(f"{app.sidecar_url}/v1.0/healthz")
                    and answers(f"{app.url}/readyz")
                ),
                deadline_s=90,
                what=f"{app.app_id} and its sidecar ready (log: {log_path})",
            )
        yield system
    finally:
        stop(process)


class OrderApi:
    """The HTTP calls a user makes, with the waits a test needs."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.orders = httpx.Client(base_url=system.url("order-processor"), timeout=10)
        self.inventory = httpx.Client(base_url=system.url("inventory"), timeout=10)
        self.payment = httpx.Client(base_url=system.url("payment"), timeout=10)

    def restock(self, item: str, quantity: int, unit_price: int) -> None:
        response = self.inventory.put(
            f"/inventory/{item}", json={"quantity": quantity, "unit_price": unit_price}
        )
        assert response.status_code == 200, response.text

    def stock(self, item: str) -> int:
        response = self.inventory.get(f"/inventory/{item}")
        assert response.status_code == 200, response.text
        return int(response.json()["quantity"])

    def payment_record(self, order_id: str) -> dict[str, Any] | None:
        response = self.payment.get(f"/payments/{order_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())

    def place(self, item: str, quantity: int, **headers: str) -> str:
        response = self.orders.post(
            "/orders", json={"item": item, "quantity": quantity}, headers=headers
        )
        assert response.status_code == 202, response.text
        return str(response.json()["order_id"])

    def status(self, order_id: str) -> dict[str, Any]:
        response = self.orders.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for(
        self, order_id: str, *, step: str | None = None, deadline_s: float = 60
    ) -> dict[str, Any]:
        """Poll the order until it is done (or reaches `step`); the API is what users watch."""
        seen: dict[str, Any] = {}

        def reached() -> bool:
            seen.update(self.status(order_id))
            if step is not None:
                return seen.get("step") == step
            return seen["status"] in {"COMPLETED", "FAILED", "TERMINATED"}

        wait_until(
            reached, deadline_s=deadline_s, what=f"order {order_id} {step or 'done'} ({seen})"
        )
        return seen

    def decide(self, order_id: str, *, approved: bool) -> httpx.Response:
        return self.orders.post(f"/orders/{order_id}/approval", json={"approved": approved})
