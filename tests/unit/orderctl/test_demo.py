"""``orderctl demo``, the seed's console demo as a client of the order API, against the fake
API: the seed's lines in the seed's order, the retries while the system starts, the deadline,
and a failure that says why."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from contracts.inventory import InventoryItem
from contracts.orders import OrderResult, OrderStatus
from contracts.roles import Role
from orderctl import client, demo
from tests.integration.system import server_command
from tests.unit.orderctl.conftest import ORDER_ID, TOKENS, FakeOrderApi, Run, order

REPO = Path(__file__).resolve().parents[3]
SEED_OUTPUT = [
    "*** Welcome to the Dapr Workflow console app sample!",
    "*** Using this app, you can place orders that start workflows.",
    "item: InventoryItem(item_name=Paperclip, per_item_cost=5, quantity=100)",
    "item: InventoryItem(item_name=Cars, per_item_cost=5000, quantity=10)",
    "item: InventoryItem(item_name=Computers, per_item_cost=500, quantity=100)",
    "==========Begin the purchase of item:==========",
    "Starting order workflow, purchasing 1 of cars",
    "Workflow completed! Result: WorkflowStatus.COMPLETED",
]
STEPS = "verifying_inventory,processing_payment,updating_inventory,completed"
PROCESSED = order("COMPLETED", STEPS, OrderResult(processed=True, total=5000))


class FakeTime:
    """The demo's clock: it moves only when the demo sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(demo, "time", fake)
    monkeypatch.setattr(client, "time", fake)  # the long polls' deadline (OrderClient.follow)
    return fake


@pytest.fixture(autouse=True)
def sigint_kept() -> Iterator[None]:
    """The demo sets the process's SIGINT handler; put back the test run's."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def calls(api: FakeOrderApi) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in api.requests]


def test_the_demo_prints_the_seeds_lines_in_the_seeds_order(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "verifying_inventory"), PROCESSED)

    result = run("demo")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == SEED_OUTPUT
    assert calls(api) == [
        "GET /readyz",
        "PUT /inventory/paperclip",
        "PUT /inventory/cars",
        "PUT /inventory/computers",
        "POST /orders",
        f"GET /orders/{ORDER_ID}",
        f"GET /orders/{ORDER_ID}",
    ]
    assert api.stock == {
        "paperclip": InventoryItem(name="paperclip", unit_price=5, quantity=100),
        "cars": InventoryItem(name="cars", unit_price=5000, quantity=10),
        "computers": InventoryItem(name="computers", unit_price=500, quantity=100),
    }
    # The operator restocks; the order is a customer's, which needs no token.
    sent = {f"{r.method} {r.url.path}": r.headers.get("Authorization") for r in api.requests}
    assert sent["PUT /inventory/cars"] == f"Bearer {TOKENS[Role.OPERATOR]}"
    assert sent["POST /orders"] is None
    assert api.bodies("POST") == [{"item": "cars", "quantity": 1}]
    # It follows the order with long polls, each for the step after the one it has.
    polls = [r.url.params for r in api.requests if r.url.path.startswith("/orders/")]
    assert [(q["step"], int(q["wait"]) > 0) for q in polls] == [
        ("", True),
        ("verifying_inventory", True),
    ]


def test_the_demo_waits_for_the_api_and_for_inventory_while_they_start(
    api: FakeOrderApi, run: Run, clock: FakeTime
) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    api.before = {
        ("GET", "readyz"): [refused, refused, 503],
        ("PUT", "inventory"): [503, 502],
    }
    api.script(503, PROCESSED)  # a sidecar restarting: the API sends Retry-After (0 here)

    result = run("demo")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == SEED_OUTPUT
    assert calls(api).count("GET /readyz") == 4
    assert calls(api).count("PUT /inventory/paperclip") == 3
    # A pause between two tries, never a busy loop; Retry-After when the API sends one.
    assert clock.slept == [demo.RETRY_PAUSE_S] * 5 + [0]


def test_a_retried_order_is_the_same_order(api: FakeOrderApi, run: Run) -> None:
    api.before = {("POST", "orders"): [httpx.ReadTimeout("timed out"), 503]}
    api.script(PROCESSED)

    result = run("demo")

    assert result.exit_code == 0, result.output
    keys = [r.headers.get("Idempotency-Key") for r in api.requests if r.method == "POST"]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert keys[0]


def test_the_demo_gives_up_at_its_deadline(api: FakeOrderApi, run: Run, clock: FakeTime) -> None:
    api.ready = False

    result = run("demo", "--timeout", "5")

    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "Demo failed: gave up after 5 s waiting for the order API to be ready; "
        'last: the order API answered 503: {"status":"not_ready"}'
    ]
    assert sum(clock.slept) == pytest.approx(5)  # never a pause past the deadline
    assert set(calls(api)) == {"GET /readyz"}


def test_the_default_deadline_is_120_s(api: FakeOrderApi, run: Run, clock: FakeTime) -> None:
    api.ready = False

    result = run("demo")

    assert "Demo failed: gave up after 120 s" in result.stdout
    assert clock.now == pytest.approx(120)


def test_the_demo_gives_up_on_an_order_that_does_not_end(
    api: FakeOrderApi, run: Run, clock: FakeTime
) -> None:
    api.script(order("RUNNING", "verifying_inventory"))

    def held(request: httpx.Request) -> httpx.Response:
        """A long poll with no news answers once its wait is over."""
        clock.now += float(request.url.params.get("wait", 0))
        return api.handle(request)

    result = run("demo", "--timeout", "30", transport=httpx.MockTransport(held))

    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == (
        f"Demo failed: gave up after 30 s waiting for order {ORDER_ID} to end; "
        "last: RUNNING at step verifying_inventory"
    )


@pytest.mark.parametrize(
    "ended",
    [
        order("COMPLETED", "failed", OrderResult(processed=False, reason="payment_declined")),
        order("FAILED", "compensating"),
        order("TERMINATED"),
    ],
    ids=["not-processed", "failed", "terminated"],
)
def test_an_order_not_processed_ends_the_seeds_way_with_exit_1(
    api: FakeOrderApi, run: Run, ended: OrderStatus
) -> None:
    api.script(ended)

    result = run("demo")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        *SEED_OUTPUT[:-1],
        f"Workflow completed! Result: WorkflowStatus.{ended.status}",
    ]


def test_a_refusal_fails_the_demo_at_once(api: FakeOrderApi, run: Run) -> None:
    result = run("demo", env={"OPERATOR_API_TOKEN": "not-the-operators"})

    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == (
        "Demo failed: the order API answered 401 unauthorized: This needs a operator's token; "
        "orderctl sent OPERATOR_API_TOKEN"
    )
    assert calls(api) == ["GET /readyz", "PUT /inventory/paperclip"]


def test_without_the_operators_token_the_demo_says_so(
    api: FakeOrderApi, run: Run, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "tokens.env"
    tokens_file.write_text("APP_API_TOKEN=abc\n")

    result = run("demo", env={"OPERATOR_API_TOKEN": None, "ORDER_API_TOKENS": str(tokens_file)})

    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == (
        "Demo failed: restocking needs the operator's token: set OPERATOR_API_TOKEN, or "
        f"ORDER_API_TOKENS to a file that holds it ({tokens_file}: no OPERATOR_API_TOKEN in it)"
    )
    assert calls(api) == ["GET /readyz"]


def test_the_demo_has_no_json_output(api: FakeOrderApi, run: Run) -> None:
    result = run("--json", "demo")

    assert result.exit_code == 2
    assert api.requests == []


def test_the_demo_stops_on_sigint_though_its_shell_ignores_it(api: FakeOrderApi, run: Run) -> None:
    """A shell starts a background job with SIGINT ignored; Ctrl-C and `dapr stop -f .` send
    SIGINT to the whole process group, the demo's too."""
    api.script(PROCESSED)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    run("demo")

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_make_run_starts_the_demo_beside_order_processor_and_the_tests_never_do() -> None:
    """dapr.yaml: the demo in the background of order-processor's command, so that its lines
    are that app's output, its command line ending in `demo` (`make stop` finds it by that);
    the tests' plan (tests/integration/system.py) runs the server alone, the same command as
    every other app's."""
    apps = {
        a["appID"]: a["command"] for a in yaml.safe_load((REPO / "dapr.yaml").read_text())["apps"]
    }
    shell, flag, script, name, *server = apps["order-processor"]

    assert (shell, flag, name) == ("sh", "-c", "order-processor")
    assert script.startswith("(../../.venv/bin/orderctl ")
    assert script.endswith(' demo &); exec "$@"')
    assert {tuple(server_command(command)) for command in apps.values()} == {tuple(server)}
    assert all("orderctl" not in " ".join(server_command(c)) for c in apps.values())
