"""The three systems the bench drives, each started on free ports with its own SQLite files.

(a) ours: `dapr run -f` of the repo's dapr.yaml, made safe for a run by the integration tests'
    own `make_plan` (free ports, own SQLite files and tokens, demo off) and started as their
    `running_system` does; its start is also the cold-start measurement.
(b) the ceiling: `bench/apps/ceiling.py` under one `dapr run` (the tests' `dapr_run`), with
    the workflow store of components/ as its actor store.
(c) the seed's design: `bench/apps/seed.py` under one `dapr run`, with the workflow, inventory
    and payment stores of components/ scoped to it.
All three run with the same daprd, control plane, Configuration and SQLite component settings.

Every app id of a run gets a private suffix. daprd finds other apps by mDNS here (the only local
name resolver in the stable build), and mDNS spreads the calls for one app id over every daprd
on the host that registered it: with the plain ids, a test run started by anyone on the machine
answers some of our calls to `inventory` and `payment` (and we answer some of theirs).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.apps.ceiling import WORKFLOW_NAME as CEILING_WORKFLOW
from contracts.roles import Role
from tests.integration import system
from tests.integration.harness import (
    answers,
    dapr_run,
    free_port,
    wait_until,
)
from tests.integration.system import OrderApi, Plan, make_plan

REPO = system.REPO
CEILING_APP_ID = "bench-ceiling"
SEED_APP_ID = "bench-seed"
# One item with stock for every order of a run: no order ever restocks or runs out.
ITEM = "benchwidgets"
STOCK = 1_000_000
# 1 unit costs this much: below the approval threshold and below the tests' decline limit.
UNIT_PRICE = 10
START_DEADLINE_S = 90.0


@dataclass
class Layout:
    """Where dapr.yaml and components/ come from: the repo, or a temporary copy of them with
    some files replaced (``--overlay``), to measure a configuration change without making it."""

    root: Path

    @property
    def run_file(self) -> dict[str, Any]:
        return dict(yaml.safe_load((self.root / "dapr.yaml").read_text()))

    @property
    def components(self) -> Path:
        return self.root / str(self.run_file["common"]["resourcesPath"])

    @property
    def config(self) -> Path:
        return self.root / str(self.run_file["common"]["configFilePath"])


def layout_with_overlay(overlay: Path | None, scratch: Path) -> Layout:
    """The repo's layout; with an overlay, a copy whose files the overlay's replace.

    `running_system` reads dapr.yaml and components/ from ``system.REPO``, so the copy is
    pointed to there; services/ is linked, so the apps run from the repo as they are.
    """
    if overlay is None:
        return Layout(REPO)
    root = scratch / "layout"
    root.mkdir()
    shutil.copy(REPO / "dapr.yaml", root / "dapr.yaml")
    shutil.copytree(REPO / "components", root / "components")
    (root / "services").symlink_to(REPO / "services")
    for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
        target = root / source.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    system.REPO = root
    return Layout(root)


@dataclass
class Target:
    """A started system: how to place orders on it and what it took to start."""

    key: str
    name: str
    workdir: Path
    api_url: str | None = None
    grpc_port: int | None = None
    startup: dict[str, float] = field(default_factory=dict)
    # The run's private app id of each app, by its usual name.
    app_ids: dict[str, str] = field(default_factory=dict)
    # The order API's role tokens (ROLE_API_TOKEN variables), for the calls that need one.
    tokens: dict[str, str] = field(default_factory=dict)


def _sqlite_stores(
    layout: Layout, target: Path, state_dir: Path, app_id: str, *, actor_store_only: bool
) -> Path:
    """The SQLite state stores of components/, scoped to `app_id`, their files in `state_dir`."""
    target.mkdir(parents=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(layout.components.glob("*.yaml")):
        doc = yaml.safe_load(source.read_text())
        if doc.get("kind") != "Component" or doc["spec"]["type"] != "state.sqlite":
            continue
        metadata = {item["name"]: item for item in doc["spec"]["metadata"]}
        is_actor_store = str(metadata.get("actorStateStore", {}).get("value")) == "true"
        if actor_store_only and not is_actor_store:
            continue
        item = metadata["connectionString"]
        item["value"] = str(state_dir / Path(item["value"]).name)
        doc["scopes"] = [app_id]
        (target / source.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


def _app_settings(layout: Layout, env: dict[str, str]) -> dict[str, str]:
    """order-processor's environment as `running_system` gives it, plus `env`."""
    run = layout.run_file
    entry = next(a for a in run["apps"] if a["appID"] == "order-processor")
    return {
        **run["common"].get("env", {}),
        "APPROVAL_TIMEOUT_SECONDS": str(system.APPROVAL_TIMEOUT_SECONDS),
        "PAYMENT_DECLINE_OVER": str(system.PAYMENT_DECLINE_OVER),
        **entry.get("env", {}),
        **env,
    }


def _private_app_ids(plan: Plan, suffix: str) -> dict[str, str]:
    """Rename every app of the plan to ``<app id>-<suffix>``: in the scopes of its components,
    the targets of its Resiliency and the settings that name the apps order-processor calls."""
    ids = {name: f"{name}-{suffix}" for name in plan.apps}
    for path in sorted(plan.resources.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("scopes"):
            doc["scopes"] = [ids.get(scope, scope) for scope in doc["scopes"]]
        targets = (doc.get("spec") or {}).get("targets") or {}
        if targets.get("apps"):
            targets["apps"] = {ids.get(k, k): v for k, v in targets["apps"].items()}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for app in plan.apps.values():
        app.env.update({"INVENTORY_APP_ID": ids["inventory"], "PAYMENT_APP_ID": ids["payment"]})
    return ids


def _run_file(plan: Plan, ids: dict[str, str]) -> Path:
    """The tests' own run file for the plan, with the private app ids."""
    path = system.write_run_file(plan)
    run = yaml.safe_load(path.read_text())
    for entry in run["apps"]:
        entry["appID"] = ids[entry["appID"]]
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path


def _first_order(plan: Plan) -> None:
    """Restock, then one order to completion, the way the integration tests do."""
    api = OrderApi(plan)
    api.restock(ITEM, quantity=STOCK, unit_price=UNIT_PRICE)
    done = api.wait_for(api.place(ITEM, 1), deadline_s=START_DEADLINE_S)
    if not (done.get("result") or {}).get("processed"):
        raise RuntimeError(f"first order did not complete: {done}")


@contextmanager
def ours(workdir: Path, layout: Layout, env: dict[str, str], suffix: str) -> Iterator[Target]:
    """(a) The three services with `dapr run -f`; times the cold start to the first order."""
    plan = make_plan(workdir, env)
    # The Configuration `make run` uses, and its default namespace: the run is kept apart from
    # others by its private app ids, with nothing else changed.
    plan.config = layout.config
    plan.tokens.pop("NAMESPACE", None)
    ids = _private_app_ids(plan, suffix)
    run_file = _run_file(plan, ids)
    started = time.perf_counter()
    with system.dapr_run_file(plan, run_file):
        ready_s = time.perf_counter() - started
        _first_order(plan)
        first_order_s = time.perf_counter() - started
        yield Target(
            key="a",
            name="ours (3 services)",
            workdir=workdir,
            api_url=plan.apps["order-processor"].url,
            startup={"ready_s": ready_s, "first_order_s": first_order_s},
            app_ids=ids,
            tokens={r.token_variable: plan.tokens[r.token_variable] for r in Role},
        )


@contextmanager
def ceiling(workdir: Path, layout: Layout, suffix: str) -> Iterator[Target]:
    """(b) Five no-op activities per workflow on the same runtime, driven by the client."""
    app_id = f"{CEILING_APP_ID}-{suffix}"
    resources = _sqlite_stores(
        layout, workdir / "resources", workdir / "state", app_id, actor_store_only=True
    )
    with dapr_run(
        app_id,
        resources_path=resources,
        config_path=layout.config,
        log_dir=workdir,
        app_command=[sys.executable, "-m", "bench.apps.ceiling"],
        deadline_s=START_DEADLINE_S,
    ) as sidecar:
        wait_until(
            lambda: _alive(sidecar.process) and "workflow worker ready" in sidecar.log(),
            deadline_s=START_DEADLINE_S,
            what=f"{CEILING_WORKFLOW} worker connected (log: {sidecar.log_path})",
        )
        yield Target(
            key="b",
            name="runtime ceiling",
            workdir=workdir,
            grpc_port=sidecar.grpc_port,
            app_ids={CEILING_APP_ID: app_id},
        )


@contextmanager
def seed(workdir: Path, layout: Layout, env: dict[str, str], suffix: str) -> Iterator[Target]:
    """(c) The seed's design: one gunicorn app, activities on its own state stores."""
    app_id = f"{SEED_APP_ID}-{suffix}"
    resources = _sqlite_stores(
        layout, workdir / "resources", workdir / "state", app_id, actor_store_only=False
    )
    tokens = {
        "DAPR_API_TOKEN": "bench-seed-dapr-token",
        "APP_API_TOKEN": "bench-seed-app-token",
        # order-processor's Settings need the order API's role tokens to start.
        **{role.token_variable: secrets.token_hex(32) for role in Role},
    }
    app_port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "--config",
        str(REPO / "services" / "order-processor" / "gunicorn.conf.py"),
        "bench.apps.seed:create_app()",
    ]
    with dapr_run(
        app_id,
        resources_path=resources,
        config_path=layout.config,
        log_dir=workdir,
        app_command=command,
        app_port=app_port,
        env={**_app_settings(layout, env), **tokens},
        deadline_s=START_DEADLINE_S,
    ) as sidecar:
        url = f"http://127.0.0.1:{app_port}"
        wait_until(
            lambda: _alive(sidecar.process) and answers(f"{url}/readyz"),
            deadline_s=START_DEADLINE_S,
            what=f"{app_id} ready (log: {sidecar.log_path})",
        )
        # Restocked as in (a): Dapr's invocation URL, which this app answers in-process.
        response = httpx.put(
            f"{url}/v1.0/invoke/inventory/method/inventory/{ITEM}",
            json={"quantity": STOCK, "unit_price": UNIT_PRICE},
            headers={"dapr-api-token": tokens["DAPR_API_TOKEN"]},
            timeout=10,
        )
        response.raise_for_status()
        yield Target(
            key="c",
            name="seed design (1 process)",
            workdir=workdir,
            api_url=url,
            app_ids={SEED_APP_ID: app_id},
        )


def _alive(process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"dapr run exited with {process.returncode}")
    return True
