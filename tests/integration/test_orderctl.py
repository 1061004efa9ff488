"""orderctl against the real system: the CLI runs as its own process, so exit codes, buffering
and the live progress are what a user gets. Every call goes through the order API, restocking
included; each test stocks its own item, so the tests share no state."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.inventory import InventoryItem, InventoryList
from contracts.orders import OrderAccepted, OrderStatus
from contracts.roles import Role
from tests.integration.harness import wait_until
from tests.integration.system import (
    APPROVAL_TIMEOUT_SECONDS,
    OrderApi,
    Plan,
    new_item,
    running_system,
)

# The decision below must come within the test system's approval timeout: two CLI start-ups.
assert APPROVAL_TIMEOUT_SECONDS >= 5

CLI_DEADLINE_S = 120


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    with running_system(tmp_path_factory.mktemp("system")) as plan:
        yield plan


@pytest.fixture(scope="module")
def url(plan: Plan) -> Iterator[str]:
    # orderctl finds the run's role tokens where a user keeps them: in its environment (never
    # in this machine's tokens file, which holds `make run`'s).
    with pytest.MonkeyPatch.context() as env:
        for role in Role:
            env.setenv(role.token_variable, plan.tokens[role.token_variable])
        env.setenv("ORDER_API_TOKENS", str(plan.workdir / "no-tokens-file"))
        yield plan.apps["order-processor"].url


def _env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ORDERCTL_URL"}
    env.update({k: v for k, v in overrides.items() if v is not None})
    for name in (k for k, v in overrides.items() if v is None):
        env.pop(name, None)
    # Unbuffered, so a test can read the progress while the command still runs.
    return {**env, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


def _command(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "orderctl", "--url", url, *args]


def orderctl(url: str, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """orderctl ``args`` against ``url``; ``env`` sets (None: unsets) variables for it."""
    command = _command(url, *args)
    # check=False: the exit code is what the tests look at.
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=CLI_DEADLINE_S,
    )


def restock(url: str, item: str, quantity: int, unit_price: int) -> None:
    done = orderctl(url, "restock", item, str(quantity), str(unit_price))
    assert done.returncode == 0, done.stderr
    assert f"{item}: {quantity:,} available at {unit_price:,} USD each" in done.stdout


def stock(url: str, item: str) -> InventoryItem:
    done = orderctl(url, "--json", "inventory")
    assert done.returncode == 0, done.stderr
    items = {i.name: i for i in InventoryList.model_validate_json(done.stdout).items}
    return items[item]


def test_place_and_wait_follows_the_order_to_completion(url: str) -> None:
    item = new_item()
    restock(url, item, 10, 5000)

    done = orderctl(url, "place", item, "1", "--wait")

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\s+[\d.]+s\s+completed\b", done.stdout, re.MULTILINE), done.stdout
    assert "processed: total 5,000 USD" in done.stdout
    assert "awaiting_approval" not in done.stdout  # 5 000 USD needs no manager
    left = stock(url, item)
    assert (left.quantity, left.reserved) == (9, 0)


@pytest.mark.parametrize(
    ("decision", "code", "outcome"),
    [("approve", 0, "processed: total 55,000 USD"), ("reject", 1, "approval_rejected")],
)
def test_large_order_waits_for_the_decision_given_with_orderctl(
    url: str, tmp_path: Path, decision: str, code: int, outcome: str
) -> None:
    item = new_item()
    restock(url, item, 20, 5000)
    progress = tmp_path / "progress.txt"

    # 55 000 USD: over the approval threshold. The waiting command runs in the background,
    # as it would in a user's first terminal, while the manager decides from a second one.
    with progress.open("w") as out:
        waiting = subprocess.Popen(
            _command(url, "place", item, "11", "--wait"),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
        )
    try:
        wait_until(
            lambda: f"orderctl --url {url} {decision} " in progress.read_text(),
            deadline_s=60,
            what=f"orderctl showing how to {decision} ({progress.read_text()!r})",
        )
        order_id = re.findall(rf"orderctl --url \S+ {decision} (\S+)", progress.read_text())[0]
        decided = orderctl(url, decision, order_id)
        assert decided.returncode == 0, decided.stderr
        assert waiting.wait(timeout=CLI_DEADLINE_S) == code
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()

    shown = progress.read_text()
    steps = re.findall(r"^\s+[\d.]+s\s+(\w+)", shown, re.MULTILINE)
    # Long polls for the next step: every step shows, in order.
    approved = ["processing_payment", "updating_inventory", "completed"]
    rejected = ["compensating", "failed"]
    assert steps == [
        "verifying_inventory",
        "awaiting_approval",
        *(approved if code == 0 else rejected),
    ], shown
    assert outcome in shown
    left = stock(url, item)
    assert (left.quantity, left.reserved) == ((9, 0) if code == 0 else (20, 0))
    # The order no longer waits: another decision is an API error, exit 2, with its message.
    again = orderctl(url, "approve", order_id)
    assert again.returncode == 2
    assert "409 not_awaiting_approval" in again.stderr


def test_a_decision_without_the_managers_token_is_refused_and_changes_nothing(
    url: str, plan: Plan
) -> None:
    api = OrderApi(plan)
    item, order_id = api.place_awaiting_approval()

    missing = orderctl(url, "approve", order_id, MANAGER_API_TOKEN=None)
    customers = orderctl(
        url, "approve", order_id, MANAGER_API_TOKEN=plan.tokens["CUSTOMER_API_TOKEN"]
    )
    restock_by_manager = orderctl(
        url, "restock", item, "1", "1", OPERATOR_API_TOKEN=plan.tokens["MANAGER_API_TOKEN"]
    )

    assert missing.returncode == customers.returncode == restock_by_manager.returncode == 2
    assert missing.stderr.startswith("orderctl: approve needs the manager's token: set ")
    assert "answered 403 forbidden: This needs a manager's token" in customers.stderr
    assert "answered 403 forbidden: This needs an operator's token" in restock_by_manager.stderr
    for done in (missing, customers, restock_by_manager):
        assert all(token not in done.stdout + done.stderr for token in plan.tokens.values())
    # Nobody decided: the order timed out waiting, and gave its stock back at its price.
    assert api.wait_for(order_id)["result"]["reason"] == "approval_timeout"
    left = stock(url, item)
    assert (left.quantity, left.reserved, left.unit_price) == (20, 0, 5000)


def test_a_token_comes_from_the_file_order_api_tokens_names(url: str, plan: Plan) -> None:
    """As on Kubernetes, where ORDER_API_TOKENS names the file of the cluster's tokens."""
    tokens_file = plan.workdir / "cluster-tokens.env"
    tokens_file.write_text(f"OPERATOR_API_TOKEN={plan.tokens['OPERATOR_API_TOKEN']}\n")
    item = new_item()

    done = orderctl(
        url, "restock", item, "3", "4", OPERATOR_API_TOKEN=None, ORDER_API_TOKENS=str(tokens_file)
    )

    assert done.returncode == 0, done.stderr
    assert (stock(url, item).quantity, stock(url, item).unit_price) == (3, 4)


def test_json_output_parses_as_the_api_models(url: str) -> None:
    item = new_item()
    stocked = orderctl(url, "--json", "restock", item, "5", "7")
    accepted = orderctl(url, "--json", "place", item, "2")
    order_id = OrderAccepted.model_validate_json(accepted.stdout).order_id
    followed = orderctl(url, "--json", "place", item, "1", "--wait")
    status = orderctl(url, "--json", "status", order_id)
    listed = orderctl(url, "--json", "inventory")

    assert InventoryItem.model_validate_json(stocked.stdout).quantity == 5
    final = OrderStatus.model_validate_json(followed.stdout)
    assert final.result is not None
    assert (final.status, final.result.processed, final.result.total) == ("COMPLETED", True, 7)
    assert OrderStatus.model_validate_json(status.stdout).order_id == order_id
    assert item in {i.name for i in InventoryList.model_validate_json(listed.stdout).items}
    for done in (stocked, accepted, followed, listed):
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.strip().splitlines()) == 1


def test_order_that_is_not_processed_exits_1(url: str) -> None:
    item = new_item()  # never stocked

    done = orderctl(url, "place", item, "1", "--wait")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "not processed: insufficient_inventory" in done.stdout
    order_id = re.findall(r"^Order (\S+) placed", done.stdout, re.MULTILINE)[0]
    status = orderctl(url, "--json", "status", order_id)
    assert status.returncode == 1
    result = OrderStatus.model_validate_json(status.stdout).result
    assert result is not None
    assert result.reason == "insufficient_inventory"


def test_invalid_input_is_exit_2_with_the_fields_the_api_named(url: str) -> None:
    done = orderctl(url, "place", new_item(), "10001")  # over the API's limit per order

    assert done.returncode == 2
    assert "422 validation_error" in done.stderr
    assert "(quantity: " in done.stderr


def test_unreachable_api_is_exit_2_with_a_clear_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    done = orderctl(url, "place", "cars", "1", "--wait")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"orderctl: cannot reach the order API at {url}: connection refused; is `make run` running?"
    )
