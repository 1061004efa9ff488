"""The workflow's decisions, driven step by step with a fake context.

Tasks are the SDK's own task objects and results travel through the SDK's JSON encoding, as
they do in the real runtime; only the sidecar is missing.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dapr.ext.workflow import TaskFailedError

# The SDK's task objects and payload encoding, which it does not export: the workflow is
# driven with the runtime's own tasks and JSON, not look-alikes.
from dapr.ext.workflow._durabletask import task
from dapr.ext.workflow._durabletask.internal import protos as pb
from dapr.ext.workflow._durabletask.internal.shared import from_json, to_json
from pydantic import BaseModel

import order_processor.following.bell
from contracts.orders import ApprovalDecision, OrderProgress, OrderResult
from contracts.payments import Payment
from order_processor import workflow
from order_processor.following.bell import StepBell
from order_processor.messages import InventoryCheck, InventoryRelease, InventoryUpdate, OrderPayload
from order_processor.names import APPROVAL_EVENT
from order_processor.workflow import (
    APPROVAL_THRESHOLD_USD,
    COMPENSATION_RETRY,
    RETRY,
    order_processing_workflow,
)

ORDER_ID = "order-1"


class FakeContext:
    def __init__(self, *, replaying: bool = False) -> None:
        self.instance_id = ORDER_ID
        self.is_replaying = replaying
        self.steps: list[str] = []
        self.progress = OrderProgress()
        # The workflow's clock: replay-safe, naive UTC as the SDK's.
        self.current_utc_datetime = datetime(2026, 12, 2, 12, 0, 0)
        self.activities: list[task.CompletableTask[Any]] = []
        self.events: dict[str, task.CompletableTask[Any]] = {}
        self.timers: list[task.CompletableTask[Any]] = []

    def call_activity(self, activity: str, *, input: Any = None, retry_policy: Any = None) -> Any:
        # By name, as registered: what the order's history records.
        assert isinstance(activity, str)
        t: task.CompletableTask[Any] = task.CompletableTask()
        t.name = activity  # type: ignore[attr-defined]
        t.input = input  # type: ignore[attr-defined]
        t.retry_policy = retry_policy  # type: ignore[attr-defined]
        self.activities.append(t)
        return t

    def wait_for_external_event(self, name: str) -> Any:
        self.events[name] = task.CompletableTask()
        return self.events[name]

    def create_timer(self, fire_at: timedelta) -> Any:
        t: task.CompletableTask[Any] = task.CompletableTask()
        t.fire_at = fire_at  # type: ignore[attr-defined]
        self.timers.append(t)
        return t

    def set_custom_status(self, status: str) -> None:
        # The trail of steps (following.publish.Progress): each status extends the last by one.
        self.progress = OrderProgress.decode(status)
        steps = self.progress.steps
        assert steps[:-1] == self.steps, f"{status!r} does not extend {self.steps}"
        assert all(reached.at is not None for reached in self.progress.trail)
        self.steps = list(steps)


def wire(value: Any) -> Any:
    """What the workflow gets back: the value after the SDK's JSON round trip."""
    return from_json(to_json(value))


class Run:
    """One workflow execution; each call answers the task the workflow is waiting on."""

    def __init__(self, order: OrderPayload, *, replaying: bool = False) -> None:
        self.ctx = FakeContext(replaying=replaying)
        self.gen = order_processing_workflow(self.ctx, order)  # type: ignore[arg-type]
        self.result: OrderResult | None = None
        self.pending: Any = next(self.gen)

    @property
    def calls(self) -> list[str]:
        return [t.name for t in self.ctx.activities]  # type: ignore[attr-defined]

    def expect(self, name: str) -> Any:
        assert self.result is None, f"workflow already finished, expected {name}"
        assert getattr(self.pending, "name", None) == name, f"waiting on {self.pending!r}"
        return self.pending

    def complete(self, name: str, value: BaseModel | None = None) -> Any:
        pending = self.expect(name)
        pending.complete(wire(value if value is not None else pending.input))
        self._advance(pending.get_result())
        return pending.input

    def fail(self, name: str, message: str = "boom") -> None:
        pending = self.expect(name)
        pending.fail(
            message, pb.TaskFailureDetails(errorType="TransientError", errorMessage=message)
        )
        try:
            self.pending = self.gen.throw(pending.get_exception())
        except StopIteration as stop:
            self.result = stop.value

    def resolve_when_any(self, winner: task.CompletableTask[Any], value: Any = None) -> None:
        assert isinstance(self.pending, task.WhenAnyTask)
        winner.complete(value)
        self._advance(self.pending.get_result())

    def _advance(self, value: Any) -> None:
        try:
            self.pending = self.gen.send(value)
        except StopIteration as stop:
            self.result = stop.value


def order(quantity: int = 1, item: str = "cars", timeout: int = 60) -> OrderPayload:
    return OrderPayload(item=item, quantity=quantity, approval_timeout_seconds=timeout)


def reserved(available: int = 10, unit_price: int = 5000) -> InventoryCheck:
    return InventoryCheck(reserved=True, available=available, unit_price=unit_price)


def paid(amount: int, status: str = "approved") -> Payment:
    return Payment(
        order_id=ORDER_ID,
        item="cars",
        quantity=1,
        amount=amount,
        status=status,
        decline_reason=None if status == "approved" else "too much",
    )


COMMITTED = InventoryUpdate(committed=True)
NOT_COMMITTED = InventoryUpdate(committed=False)
RELEASED = InventoryRelease(released=True)
ALREADY_COMMITTED = InventoryRelease(released=False)


def notified(run: Run) -> list[str]:
    return [t.input.message for t in run.ctx.activities if t.name == "notify_activity"]  # type: ignore[attr-defined]


def run_to_payment(run: Run, check: InventoryCheck) -> None:
    run.complete("verify_inventory_activity", check)
    run.complete("notify_activity")


def test_small_order_is_processed_end_to_end() -> None:
    run = Run(order())

    verify = run.complete("verify_inventory_activity", reserved())
    run.complete("notify_activity")
    payment = run.complete("process_payment_activity", paid(5000))
    update = run.complete("update_inventory_activity", COMMITTED)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=True, total=5000)
    assert (verify.order_id, verify.item, verify.quantity) == (ORDER_ID, "cars", 1)
    assert (payment.order_id, payment.amount) == (ORDER_ID, 5000)
    assert (update.order_id, update.quantity) == (ORDER_ID, 1)
    assert notified(run) == [
        f"Received order {ORDER_ID} for 1 cars at $5000 !",
        f"Order {ORDER_ID} has completed!",
    ]
    assert run.ctx.steps == [
        "verifying_inventory",
        "processing_payment",
        "updating_inventory",
        "completed",
    ]
    assert run.calls == [
        "verify_inventory_activity",
        "notify_activity",
        "process_payment_activity",
        "update_inventory_activity",
        "notify_activity",
    ]


def test_total_uses_the_reserved_price_times_quantity() -> None:
    run = Run(order(quantity=3, item="computers"))

    run_to_payment(run, reserved(unit_price=500))

    assert run.expect("process_payment_activity").input.amount == 1500


@pytest.mark.parametrize(
    "check",
    [
        InventoryCheck(),
        InventoryCheck(available=0, unit_price=5000),
        InventoryCheck(available=2, unit_price=5000),
    ],
    ids=["unknown item", "none left", "too few"],
)
def test_insufficient_inventory_ends_before_payment_with_nothing_to_release(
    check: InventoryCheck,
) -> None:
    run = Run(order(quantity=3))

    run.complete("verify_inventory_activity", check)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=False, reason="insufficient_inventory")
    assert notified(run) == [
        f"Insufficient inventory for order {ORDER_ID}: 3 cars requested, "
        f"{check.available} available"
    ]
    assert run.calls == ["verify_inventory_activity", "notify_activity"]
    assert run.ctx.steps == ["verifying_inventory", "failed"]


def test_order_at_the_threshold_needs_no_approval() -> None:
    run = Run(order(quantity=10))

    run_to_payment(run, reserved(available=10, unit_price=APPROVAL_THRESHOLD_USD // 10))

    run.expect("process_payment_activity")


def big_order_awaiting_approval(timeout: int = 600) -> Run:
    run = Run(order(quantity=11, timeout=timeout))
    run_to_payment(run, reserved(available=20))
    request = run.complete("request_approval_activity")
    assert request.total == 55_000
    assert isinstance(run.pending, task.WhenAnyTask)
    assert run.ctx.steps[-1] == "awaiting_approval"
    return run


def test_big_order_waits_for_approval_with_the_timeout_from_its_input() -> None:
    run = big_order_awaiting_approval(timeout=600)

    assert set(run.ctx.events) == {APPROVAL_EVENT}
    assert [t.fire_at for t in run.ctx.timers] == [timedelta(seconds=600)]  # type: ignore[attr-defined]


def test_approved_big_order_is_processed() -> None:
    run = big_order_awaiting_approval()

    run.resolve_when_any(run.ctx.events[APPROVAL_EVENT], wire(ApprovalDecision(approved=True)))
    run.complete("process_payment_activity", paid(55_000))
    run.complete("update_inventory_activity", COMMITTED)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=True, total=55_000)
    assert "release_inventory_activity" not in run.calls


@pytest.mark.parametrize(
    "decision",
    [wire(ApprovalDecision(approved=False)), {"approved": "yes"}, None],
    ids=["rejected", "malformed", "empty"],
)
def test_rejected_big_order_releases_its_stock_and_is_not_paid(decision: Any) -> None:
    run = big_order_awaiting_approval()

    run.resolve_when_any(run.ctx.events[APPROVAL_EVENT], decision)
    release = run.complete("release_inventory_activity", RELEASED)
    run.complete("notify_activity")

    assert release.order_id == ORDER_ID
    assert run.result == OrderResult(processed=False, reason="approval_rejected", total=55_000)
    assert notified(run)[-1] == f"Order {ORDER_ID} was rejected by the manager"
    assert "process_payment_activity" not in run.calls
    assert run.ctx.steps[-3:] == ["awaiting_approval", "compensating", "failed"]


def test_unanswered_big_order_times_out_and_releases_its_stock() -> None:
    run = big_order_awaiting_approval()

    run.resolve_when_any(run.ctx.timers[0])
    run.complete("release_inventory_activity", RELEASED)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=False, reason="approval_timeout", total=55_000)
    assert "timed out" in notified(run)[-1]
    assert "process_payment_activity" not in run.calls
    assert run.ctx.steps[-3:] == ["awaiting_approval", "compensating", "failed"]


def test_declined_payment_releases_the_stock_and_refunds_nothing() -> None:
    run = Run(order())
    run_to_payment(run, reserved())

    run.complete("process_payment_activity", paid(5000, status="declined"))
    run.complete("release_inventory_activity", RELEASED)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=False, reason="payment_declined", total=5000)
    assert "update_inventory_activity" not in run.calls
    assert "refund_payment_activity" not in run.calls
    assert run.ctx.steps[-3:] == ["processing_payment", "compensating", "failed"]


def paid_order() -> Run:
    run = Run(order())
    run_to_payment(run, reserved())
    run.complete("process_payment_activity", paid(5000))
    return run


def test_released_reservation_fails_the_order_with_release_and_refund() -> None:
    run = paid_order()

    run.complete("update_inventory_activity", NOT_COMMITTED)
    release = run.complete("release_inventory_activity", RELEASED)
    refund = run.complete("refund_payment_activity", paid(5000))
    run.complete("notify_activity")

    assert (release.order_id, refund.order_id) == (ORDER_ID, ORDER_ID)
    assert run.result == OrderResult(processed=False, reason="inventory_update_failed", total=5000)
    assert notified(run)[-1] == f"Order {ORDER_ID} Failed!"
    assert run.ctx.steps[-3:] == ["updating_inventory", "compensating", "failed"]


def test_failed_inventory_update_is_compensated_by_release_and_refund() -> None:
    run = paid_order()

    run.fail("update_inventory_activity", "inventory unreachable after retries")
    run.complete("release_inventory_activity", RELEASED)
    run.complete("refund_payment_activity", paid(5000))
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=False, reason="inventory_update_failed", total=5000)
    assert run.calls.count("release_inventory_activity") == 1
    assert run.calls.count("refund_payment_activity") == 1


def test_a_commit_that_landed_unseen_completes_the_order_without_a_refund() -> None:
    """The commit went through but its answer was lost: the release finds it committed."""
    run = paid_order()

    run.fail("update_inventory_activity", "timed out after retries")
    run.complete("release_inventory_activity", ALREADY_COMMITTED)
    run.complete("notify_activity")

    assert run.result == OrderResult(processed=True, total=5000)
    assert "refund_payment_activity" not in run.calls
    assert notified(run)[-1] == f"Order {ORDER_ID} has completed!"
    assert run.ctx.steps[-2:] == ["compensating", "completed"]


# Every outcome, and which compensations ran for it, in order.
OUTCOMES = [
    ("processed", [], OrderResult(processed=True, total=5000)),
    ("insufficient_inventory", [], OrderResult(processed=False, reason="insufficient_inventory")),
    (
        "approval_timeout",
        ["release_inventory_activity"],
        OrderResult(processed=False, reason="approval_timeout", total=55_000),
    ),
    (
        "approval_rejected",
        ["release_inventory_activity"],
        OrderResult(processed=False, reason="approval_rejected", total=55_000),
    ),
    (
        "payment_declined",
        ["release_inventory_activity"],
        OrderResult(processed=False, reason="payment_declined", total=5000),
    ),
    (
        "inventory_update_failed",
        ["release_inventory_activity", "refund_payment_activity"],
        OrderResult(processed=False, reason="inventory_update_failed", total=5000),
    ),
]


def drive(outcome: str) -> Run:
    """Run the workflow to ``outcome``, answering every step as the outcome needs."""
    if outcome in {"approval_timeout", "approval_rejected"}:
        run = big_order_awaiting_approval()
        if outcome == "approval_timeout":
            run.resolve_when_any(run.ctx.timers[0])
        else:
            run.resolve_when_any(run.ctx.events[APPROVAL_EVENT], {"approved": False})
        run.complete("release_inventory_activity", RELEASED)
    elif outcome == "insufficient_inventory":
        run = Run(order())
        run.complete("verify_inventory_activity", InventoryCheck())
    else:
        run = Run(order())
        run_to_payment(run, reserved())
        if outcome == "payment_declined":
            run.complete("process_payment_activity", paid(5000, status="declined"))
            run.complete("release_inventory_activity", RELEASED)
        else:
            run.complete("process_payment_activity", paid(5000))
            if outcome == "processed":
                run.complete("update_inventory_activity", COMMITTED)
            else:
                run.complete("update_inventory_activity", NOT_COMMITTED)
                run.complete("release_inventory_activity", RELEASED)
                run.complete("refund_payment_activity", paid(5000))
    run.complete("notify_activity")
    return run


@pytest.mark.parametrize(
    ("outcome", "compensations", "result"), OUTCOMES, ids=[o[0] for o in OUTCOMES]
)
def test_outcome_table(outcome: str, compensations: list[str], result: OrderResult) -> None:
    run = drive(outcome)

    assert run.result == result
    ran = [c for c in run.calls if c in {"release_inventory_activity", "refund_payment_activity"}]
    assert ran == compensations
    # Nobody is charged without a reservation, nor refunded without a charge.
    if "process_payment_activity" in run.calls:
        assert run.calls[0] == "verify_inventory_activity"
    if "refund_payment_activity" in run.calls:
        assert "process_payment_activity" in run.calls


@pytest.mark.parametrize(
    ("outcome", "compensations", "result"), OUTCOMES, ids=[o[0] for o in OUTCOMES]
)
def test_compensations_use_the_stronger_retry_policy(
    outcome: str, compensations: list[str], result: OrderResult
) -> None:
    run = drive(outcome)

    for call in run.ctx.activities:
        name = call.name  # type: ignore[attr-defined]
        expected = COMPENSATION_RETRY if name in compensations else RETRY
        assert call.retry_policy is expected, name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "to_failure",
    [
        lambda run: run.resolve_when_any(run.ctx.timers[0]),
        lambda run: run.resolve_when_any(run.ctx.events[APPROVAL_EVENT], {"approved": False}),
    ],
    ids=["timed out", "rejected"],
)
def test_a_failed_release_fails_the_workflow_for_a_person_to_see(to_failure: Any) -> None:
    run = big_order_awaiting_approval()
    to_failure(run)

    with pytest.raises(TaskFailedError):
        run.fail("release_inventory_activity", "inventory unreachable")


def test_a_failed_release_after_a_failed_update_refunds_nothing_yet() -> None:
    run = paid_order()
    run.fail("update_inventory_activity")

    with pytest.raises(TaskFailedError):
        run.fail("release_inventory_activity", "inventory unreachable")
    assert "refund_payment_activity" not in run.calls


def test_a_failed_refund_fails_the_workflow_for_a_person_to_see() -> None:
    run = paid_order()
    run.fail("update_inventory_activity")
    run.complete("release_inventory_activity", RELEASED)

    with pytest.raises(TaskFailedError):
        run.fail("refund_payment_activity", "payment unreachable")


def test_a_failed_verification_fails_the_workflow() -> None:
    run = Run(order())

    with pytest.raises(TaskFailedError):
        run.fail("verify_inventory_activity")


def test_a_failed_payment_call_fails_the_workflow_with_the_stock_still_reserved() -> None:
    """Retries exhausted on the charge: whether it was taken is unknown, so a person decides
    (the reservation shows as ``reserved`` until they commit or release it)."""
    run = Run(order())
    run_to_payment(run, reserved())

    with pytest.raises(TaskFailedError):
        run.fail("process_payment_activity", "payment unreachable")
    assert "release_inventory_activity" not in run.calls


def test_every_retry_policy_is_bounded() -> None:
    for policy in (RETRY, COMPENSATION_RETRY):
        assert 1 < policy.max_number_of_attempts <= 10
        assert policy.max_retry_interval is not None
    assert COMPENSATION_RETRY.max_number_of_attempts > RETRY.max_number_of_attempts


def waits(policy: Any) -> list[float]:
    """The delays before attempts 2..n, as the SDK computes them."""
    return [
        min(
            policy.first_retry_interval.total_seconds() * policy.backoff_coefficient ** (n - 1),
            policy.max_retry_interval.total_seconds(),
        )
        for n in range(1, policy.max_number_of_attempts)
    ]


def test_the_retry_budgets_are_the_ones_the_docs_multiply() -> None:
    """docs/reliability.md writes both layers' product down from these sums."""
    doc = (Path(__file__).parents[3] / "docs" / "reliability.md").read_text()
    assert waits(RETRY) == [1, 2, 4, 8, 16, 30, 30, 30]
    assert "9 attempts, waits 1+2+4+8+16+30+30+30 = 121 s" in doc
    assert sum(waits(COMPENSATION_RETRY)) == 243
    assert "10 attempts, waits summing to 243 s" in doc


def test_replay_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    run = Run(order(quantity=11), replaying=True)
    run_to_payment(run, reserved(available=20))
    run.complete("request_approval_activity")
    run.resolve_when_any(run.ctx.timers[0])
    run.complete("release_inventory_activity", RELEASED)
    run.complete("notify_activity")

    assert run.result is not None
    assert not [r for r in caplog.records if r.name == "order_processing_workflow"]


def test_live_run_logs_with_the_order_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    run = big_order_awaiting_approval()

    record = next(r for r in caplog.records if r.name == "order_processing_workflow")
    assert ORDER_ID in record.getMessage()
    assert run.result is None


@pytest.mark.parametrize("replaying", [False, True])
def test_each_step_rings_this_process_s_long_polls(
    replaying: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    bell = StepBell(remember_s=0.0)
    monkeypatch.setattr(order_processor.following.bell, "BELL", bell)
    with bell.listen(ORDER_ID) as rung:
        Run(order(), replaying=replaying)  # runs up to the first activity: verifying

    # Replaying too: the SDK runs an order's first step with its start event as history.
    assert rung.is_set()


def test_the_workflow_knows_neither_the_activities_nor_any_client() -> None:
    """It calls its activities by their registered names, so it can be read, tested and
    replayed without the clients the activities call or the SDK's workflow client."""
    tree = ast.parse(Path(workflow.__file__).read_text())
    modules = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {
        a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
    }
    imported = {
        a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names
    }

    assert [m for m in modules if "client" in m or m.endswith((".activities", ".service"))] == []
    assert "activities" not in imported
    assert [name for name in imported if "Client" in name] == []


def test_importing_the_workflow_loads_no_client() -> None:
    """What the import actually loads, package __init__ included, in a fresh interpreter."""
    code = "import sys, order_processor.workflow; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    clients = {"order_processor.clients", "order_processor.activities", "servicekit.invoke"}

    assert clients.isdisjoint(loaded)
    assert "httpx" not in loaded
