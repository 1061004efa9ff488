"""An order placed before a deploy completes after it: the workflow, its activities and their
messages, as they stand in the workflow history, keep working across a change of the code.

The test runs the three apps of an earlier revision (a git worktree of it, with its own venv
from the same lock) until an order waits for its manager, stops them, starts the current code
on the same state (SQLite stores, the scheduler's jobs, the namespace), approves the order and
sees it through. The revision is the last one before the activities were registered under
explicit names and the workflow's messages moved beside it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.system import (
    REPO,
    OrderApi,
    Plan,
    Supervisor,
    make_plan,
    wait_ready,
)

BEFORE = "2b2700a"
# Long enough that the order still waits for its manager after the restart.
APPROVAL_TIMEOUT_SECONDS = 600


def _git(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(scope="module")
def earlier_revision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The earlier revision's tree, with its own venv synced from its lock."""
    if _git("cat-file", "-e", f"{BEFORE}^{{commit}}").returncode != 0:
        pytest.skip(f"revision {BEFORE} is not in this clone (shallow?)")
    tree = tmp_path_factory.mktemp("upgrade") / "before"
    added = _git("worktree", "add", "--detach", str(tree), BEFORE)
    assert added.returncode == 0, added.stderr
    try:
        synced = subprocess.run(
            # The services alone, without the dev tools.
            ["uv", "sync", "--frozen", "--all-packages", "--no-dev"],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert synced.returncode == 0, synced.stderr
        yield tree
    finally:
        _git("worktree", "remove", "--force", str(tree))


def run_from(plan: Plan, tree: Path) -> Supervisor:
    """Every app of ``plan`` and its sidecar, with the apps' code from ``tree``."""
    for app in plan.apps.values():
        app.app_dir = tree / app.app_dir.relative_to(app.app_dir.parents[1])
    supervisor = Supervisor(plan)
    for app_id in plan.apps:
        supervisor.start_sidecar(app_id)
        supervisor.start_app(app_id)
    return supervisor


def test_an_order_placed_before_the_change_completes_after_it(
    earlier_revision: Path, tmp_path: Path
) -> None:
    plan = make_plan(tmp_path, {"APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_SECONDS)})
    api = OrderApi(plan)

    before = run_from(plan, earlier_revision)
    try:
        wait_ready(plan)
        item, order_id = api.place_awaiting_approval()
        print(f"revision {BEFORE}: order {order_id} for 11 {item} is awaiting_approval")
    finally:
        before.stop_all()

    after = run_from(plan, REPO)
    try:
        wait_ready(plan)
        assert api.status(order_id)["step"] == "awaiting_approval"
        assert api.decide(order_id, approved=True).status_code == 202
        done = api.wait_for(order_id)
        stock = api.stock(item)
        print(f"this revision: order {order_id} is {done['status']}, result {done['result']}")
    finally:
        after.stop_all()

    assert done["status"] == "COMPLETED"
    assert done["result"] == {"processed": True, "reason": None, "total": 55000}
    assert stock == 9
