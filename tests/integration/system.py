"""The whole system on the real runtime, started from the repo's own dapr.yaml.

Only what must differ for a test run is changed: free ports, SQLite files in a temporary
folder, tokens of its own, a short approval timeout, no console demo; and a world of its own, so
that a running `make run`, a benchmark or another test run on the same placement is left
alone: a Dapr namespace of its own (placement and scheduler keep namespaces apart, so the
workflow actors are never placed on another run's sidecar) and SQLite name resolution of its
own (mDNS would find another run's `inventory`). Two ways to run it:
- `running_system`: `dapr run -f`, exactly as `make run` does;
- `supervised_system`: each daprd and each gunicorn as a process of its own, so a test can
  kill -9 one of them and start it again.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from contracts.roles import Role
from tests.integration.harness import (
    PLACEMENT_ADDRESS,
    SCHEDULER_ADDRESS,
    answers,
    cli_env,
    dapr_cli,
    free_port,
    stop,
    wait_released,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
DAPRD = Path(os.environ.get("DAPR_HOME", Path.home() / ".dapr")) / "bin" / "daprd"

# Business settings the tests rely on; each test names its own items, so tests never share stock.
APPROVAL_TIMEOUT_SECONDS = 6
PAYMENT_DECLINE_OVER = 100_000
READY_DEADLINE_S = 90


@dataclass
class App:
    app_id: str
    app_dir: Path
    command: list[str]
    env: dict[str, str]
    app_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    internal_grpc_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def sidecar_ready(self) -> bool:
        return answers(f"{self.sidecar_url}/v1.0/healthz")

    def app_ready(self) -> bool:
        return answers(f"{self.url}/readyz")


@dataclass
class Plan:
    """dapr.yaml, made safe for a test run."""

    workdir: Path
    apps: dict[str, App]
    resources: Path
    config: Path
    # What daprd and the apps get in their environment: tokens and the run's namespace.
    tokens: dict[str, str]

    def bearer(self, role: Role) -> dict[str, str]:
        """The header that carries ``role``'s token to the order API."""
        return {"Authorization": f"Bearer {self.tokens[role.token_variable]}"}

    def ports(self) -> list[int]:
        """Every port the run's apps and sidecars listen on."""
        return [
            port
            for app in self.apps.values()
            for port in (app.app_port, app.http_port, app.grpc_port, app.internal_grpc_port)
        ]

    def log(self) -> str:
        """Everything the run printed, all processes together."""
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("*.log"))
        )


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


def server_command(command: list[str]) -> list[str]:
    """An app's server alone. dapr.yaml starts the console demo beside order-processor's
    (``sh -c '(... demo &); exec "$@"' order-processor SERVER...``); a test run never starts
    it: the demo's stock and its order would be in the way of the tests' own."""
    if command[:2] == ["sh", "-c"]:
        return command[4:]
    return list(command)


def make_plan(workdir: Path, env: dict[str, str] | None = None) -> Plan:
    run: dict[str, Any] = yaml.safe_load((REPO / "dapr.yaml").read_text())
    state_dir = workdir / "state"
    state_dir.mkdir()
    common = run["common"]
    settings = {
        **common.get("env", {}),
        "APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_SECONDS),
        "PAYMENT_DECLINE_OVER": str(PAYMENT_DECLINE_OVER),
        **(env or {}),
    }
    apps = {
        app["appID"]: App(
            app_id=app["appID"],
            app_dir=(REPO / app["appDirPath"]).resolve(),
            command=server_command(app["command"]),
            env={**settings, **app.get("env", {})},
        )
        for app in run["apps"]
    }
    return Plan(
        workdir=workdir,
        apps=apps,
        resources=_resources(workdir / "resources", state_dir),
        config=_config(REPO / common["configFilePath"], workdir, state_dir),
        tokens={
            "DAPR_API_TOKEN": secrets.token_hex(16),
            "APP_API_TOKEN": secrets.token_hex(16),
            # The order API's role tokens (order-processor refuses to start without them).
            **{role.token_variable: secrets.token_hex(32) for role in Role},
            "NAMESPACE": f"test-{secrets.token_hex(4)}",
        },
    )


def _config(source: Path, workdir: Path, state_dir: Path) -> Path:
    """The repo's Configuration, resolving app ids through this run's own SQLite table."""
    doc = yaml.safe_load(source.read_text())
    doc["spec"]["nameResolution"] = {
        "component": "sqlite",
        "version": "v1",
        "configuration": {"connectionString": str(state_dir / "names.db")},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_run_file(plan: Plan) -> Path:
    """dapr.yaml with the plan's folders, ports and environment, in the plan's folder."""
    run: dict[str, Any] = yaml.safe_load((REPO / "dapr.yaml").read_text())
    common = run["common"]
    common["resourcesPath"] = str(plan.resources)
    common["configFilePath"] = str(plan.config)
    for entry in run["apps"]:
        app = plan.apps[entry["appID"]]
        entry["appDirPath"], entry["command"] = str(app.app_dir), app.command
        entry["appPort"], entry["daprHTTPPort"] = app.app_port, app.http_port
        entry["daprGRPCPort"], entry["metricsPort"] = app.grpc_port, app.metrics_port
        entry["env"] = app.env
    path = plan.workdir / "dapr.yaml"
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path


def wait_ready(plan: Plan, alive: Callable[[], bool] = lambda: True) -> None:
    for app in plan.apps.values():

        def ready(app: App = app) -> bool:
            return alive() and app.sidecar_ready() and app.app_ready()

        wait_until(
            ready,
            deadline_s=READY_DEADLINE_S,
            what=f"{app.app_id} and its sidecar ready (logs in {plan.workdir})",
        )


@contextmanager
def dapr_run_file(plan: Plan, run_file: Path) -> Iterator[None]:
    """`dapr run -f run_file`; yields once every app of the plan and its sidecar is ready."""
    with (plan.workdir / "dapr-run.log").open("wb") as log:
        process = subprocess.Popen(
            [dapr_cli(), "run", "-f", str(run_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # daprd and the apps inherit the CLI's environment, tokens included.
            env=cli_env(plan.tokens),
            start_new_session=True,
        )
    try:
        wait_ready(plan, alive=lambda: process.poll() is None)
        yield
    finally:
        stop(process, ports=plan.ports())


@contextmanager
def running_system(workdir: Path, env: dict[str, str] | None = None) -> Iterator[Plan]:
    """`dapr run -f` the three apps, exactly as `make run` does; yields once all are ready."""
    plan = make_plan(workdir, env)
    with dapr_run_file(plan, write_run_file(plan)):
        yield plan


class Supervisor:
    """Each daprd and each app as its own process group, to kill and start again at will."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.processes: dict[tuple[str, str], subprocess.Popen[bytes]] = {}

    def _spawn(self, key: tuple[str, str], args: list[str], cwd: Path, env: dict[str, str]) -> None:
        with (self.plan.workdir / f"{key[0]}-{key[1]}.log").open("ab") as log:
            self.processes[key] = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_sidecar(self, app_id: str) -> None:
        app = self.plan.apps[app_id]
        args = [
            str(DAPRD),
            "--app-id", app_id,
            "--app-port", str(app.app_port),
            "--app-protocol", "http",
            "--dapr-http-port", str(app.http_port),
            "--dapr-grpc-port", str(app.grpc_port),
            "--dapr-internal-grpc-port", str(app.internal_grpc_port),
            "--metrics-port", str(app.metrics_port),
            "--placement-host-address", PLACEMENT_ADDRESS,
            "--scheduler-host-address", SCHEDULER_ADDRESS,
            "--resources-path", str(self.plan.resources),
            "--config", str(self.plan.config),
        ]  # fmt: skip
        self._spawn((app_id, "daprd"), args, app.app_dir, {**os.environ, **self.plan.tokens})

    def start_app(self, app_id: str) -> None:
        app = self.plan.apps[app_id]
        env = {
            **os.environ,
            **app.env,
            **self.plan.tokens,
            "APP_ID": app_id,
            "APP_PORT": str(app.app_port),
            "DAPR_HTTP_PORT": str(app.http_port),
            "DAPR_GRPC_PORT": str(app.grpc_port),
        }
        self._spawn((app_id, "app"), app.command, app.app_dir, env)

    def kill(self, app_id: str, which: str) -> None:
        """kill -9 the whole process group: no clean-up, no flush, as a crash would."""
        process = self.processes.pop((app_id, which))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)
        self.processes.clear()
        wait_released(self.plan.ports())


@contextmanager
def supervised_system(workdir: Path, env: dict[str, str] | None = None) -> Iterator[Supervisor]:
    plan = make_plan(workdir, env)
    supervisor = Supervisor(plan)
    with ExitStack() as cleanup:
        cleanup.callback(supervisor.stop_all)
        for app_id in plan.apps:
            supervisor.start_sidecar(app_id)
            supervisor.start_app(app_id)
        wait_ready(plan)
        yield supervisor


def new_item() -> str:
    """An item no other test uses: tests share one system without meeting in its stock."""
    return f"item-{uuid.uuid4().hex[:12]}"


def wait_for_order(
    orders: httpx.Client, order_id: str, *, step: str | None = None, deadline_s: float = 60
) -> dict[str, Any]:
    """Poll the order through the order API (``orders``) until it has ended, or reached
    ``step``; the API is what users watch."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        response = orders.get(f"/orders/{order_id}")
        if response.status_code == 503:
            # A sidecar just restarted: the API says retry later, and a client does.
            return False
        assert response.status_code == 200, response.text
        seen.update(response.json())
        if step is not None:
            return seen.get("step") == step
        return seen["status"] in {"COMPLETED", "FAILED", "TERMINATED"}

    wait_until(reached, deadline_s=deadline_s, what=f"order {order_id} {step or 'done'} ({seen})")
    return seen


class OrderApi:
    """The HTTP calls a user makes, with the waits a test needs."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.orders = httpx.Client(base_url=plan.apps["order-processor"].url, timeout=10)
        # Inventory and payment answer only their sidecars, which send the app token. The tests
        # look at them with that token, straight to the app: observing stays off the order path
        # (the sidecar's resiliency policy would count a test's 404 lookups as failures).
        self.inventory = self._observer("inventory")
        self.payment = self._observer("payment")

    def _observer(self, app_id: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.plan.apps[app_id].url,
            headers={"dapr-api-token": self.plan.tokens["APP_API_TOKEN"]},
            timeout=10,
        )

    def release(self, order_id: str) -> None:
        """What an operator does to cancel an order's hold on stock."""
        response = self.inventory.post(f"/reservations/{order_id}/release")
        assert response.status_code == 200, response.text

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

    def payment_of(self, order_id: str) -> dict[str, Any]:
        """The order's payment record, which must exist."""
        payment = self.payment_record(order_id)
        assert payment is not None, f"order {order_id} was never charged"
        return payment

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
        return wait_for_order(self.orders, order_id, step=step, deadline_s=deadline_s)

    def place_awaiting_approval(
        self, *, stock: int = 20, quantity: int = 11, unit_price: int = 5000
    ) -> tuple[str, str]:
        """(item, order id) of an order of a new item, waiting for a manager: by default 11 of
        20 at 5 000 USD, so 55 000 USD, over the 50 000 USD approval threshold."""
        assert quantity * unit_price > 50_000, "under the threshold, no approval is asked"
        item = new_item()
        self.restock(item, quantity=stock, unit_price=unit_price)
        order_id = self.place(item, quantity)
        self.wait_for(order_id, step="awaiting_approval")
        return item, order_id

    def decide(self, order_id: str, *, approved: bool) -> httpx.Response:
        """A manager's decision, with the manager's token."""
        return self.orders.post(
            f"/orders/{order_id}/approval",
            json={"approved": approved},
            headers=self.plan.bearer(Role.MANAGER),
        )
