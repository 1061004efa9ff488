"""The long poll: answers at once with news, waits for the end on daprd, hears steps rung in
this process, and refuses beyond its bound. No test measures time: a wait that should have
been woken and was not shows as a stale answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from dapr.ext.workflow import WorkflowStatus
from flask import Flask
from flask.testing import FlaskClient

from contracts.orders import OrderStatus, Step
from order_processor.following.bell import StepBell
from order_processor.following.reads import OrderNotFoundError, OrderReader, order_status
from order_processor.following.watch import OrderWatch, TooManyWaitingError
from tests.unit.fakes import FakeWorkflowClient, FakeWorkflowState

ORDER_ID = "0123456789abcdef0123456789abcdef"
# Long enough that a test passing by a recheck instead of a ring would stand out (it fails:
# the answer after a missed ring is the stale one, once wait_s is over).
NEVER_S = 3600.0


def status(step: Step | None, runtime: str = "RUNNING") -> OrderStatus:
    return OrderStatus.model_validate(
        {"order_id": ORDER_ID, "status": runtime, "step": step, "result": None}
    )


class ScriptedOrders:
    """The part of OrderReader the watch uses; each read answers the next scripted status
    (then keeps the last), and the completion wait blocks until released."""

    def __init__(self, *statuses: OrderStatus) -> None:
        self.statuses = list(statuses)
        self.reads = 0
        self.waits = 0
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.on_read: Any = None

    def status(self, order_id: str) -> OrderStatus:
        if order_id != ORDER_ID:
            raise OrderNotFoundError(order_id)
        self.reads += 1
        if self.on_read is not None:
            self.on_read(self.reads)
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def wait_for_end(self, order_id: str, *, timeout_seconds: int) -> OrderStatus:
        self.waits += 1
        self.waiting.set()
        if not self.release.wait(timeout_seconds):
            raise TimeoutError
        ended = FakeWorkflowState(ORDER_ID, WorkflowStatus.COMPLETED, None, None, "completed")
        return order_status(ORDER_ID, cast(Any, ended))


def ring_after_first_read(orders: ScriptedOrders, bell: StepBell) -> None:
    """The workflow (another thread) reaches a step just after the waiter's first read."""

    def on_read(reads: int) -> None:
        if reads == 1:
            threading.Thread(target=bell.ring, args=(ORDER_ID,)).start()

    orders.on_read = on_read


def watch(orders: ScriptedOrders, bell: StepBell | None = None, max_waiting: int = 4) -> OrderWatch:
    return OrderWatch(
        cast(OrderReader, orders),
        max_waiting=max_waiting,
        bell=bell or StepBell(),
        recheck_s=NEVER_S,
    )


def test_news_the_client_has_not_seen_is_answered_without_waiting() -> None:
    orders = ScriptedOrders(status("processing_payment"))

    answer = watch(orders).wait(ORDER_ID, wait_s=30, any_step=True, step="verifying_inventory")

    assert answer.step == "processing_payment"
    assert (orders.reads, orders.waits) == (1, 0)


@pytest.mark.parametrize("runtime", ["COMPLETED", "FAILED", "TERMINATED"])
def test_an_ended_order_is_answered_at_once(runtime: str) -> None:
    orders = ScriptedOrders(status("failed", runtime))

    answer = watch(orders).wait(ORDER_ID, wait_s=30, any_step=False)

    assert answer.status == runtime
    assert orders.waits == 0


def test_the_end_is_waited_for_on_daprd_and_answered_from_its_state() -> None:
    orders = ScriptedOrders(status("processing_payment"))
    orders.release.set()

    answer = watch(orders).wait(ORDER_ID, wait_s=30, any_step=False)

    assert (answer.status, answer.step) == ("COMPLETED", "completed")
    # One read to know the order, one wait; no read after it.
    assert (orders.reads, orders.waits) == (1, 1)


def test_an_end_wait_that_times_out_answers_the_order_as_it_is() -> None:
    orders = ScriptedOrders(status("processing_payment"), status("updating_inventory"))

    answer = watch(orders).wait(ORDER_ID, wait_s=0, any_step=False)
    assert answer.step == "processing_payment"  # wait=0: a plain read

    orders.release.clear()
    answer = watch(orders).wait(ORDER_ID, wait_s=1, any_step=False)
    assert answer.step == "updating_inventory"


def test_a_step_rung_in_this_process_is_read_once_daprd_shows_it() -> None:
    bell = StepBell()
    # The ring comes before daprd has saved the step: the first read after it still shows
    # the old step, the next one the new.
    orders = ScriptedOrders(
        status("verifying_inventory"),
        status("verifying_inventory"),
        status("processing_payment"),
    )
    ring_after_first_read(orders, bell)

    answer = watch(orders, bell).wait(
        ORDER_ID, wait_s=30, any_step=True, step="verifying_inventory"
    )

    assert answer.step == "processing_payment"
    assert orders.reads == 3


def test_a_step_wait_ends_with_the_order_too() -> None:
    bell = StepBell()
    orders = ScriptedOrders(status("updating_inventory"), status("completed", "COMPLETED"))
    ring_after_first_read(orders, bell)

    answer = watch(orders, bell).wait(ORDER_ID, wait_s=30, any_step=True, step="updating_inventory")

    assert answer.status == "COMPLETED"


def test_no_step_yet_is_a_step_the_client_can_have() -> None:
    orders = ScriptedOrders(status(None, "PENDING"))

    answer = watch(orders).wait(ORDER_ID, wait_s=0, any_step=True, step=None)

    assert answer.step is None


def test_an_unknown_order_is_not_found_at_once() -> None:
    orders = ScriptedOrders(status(None))

    with pytest.raises(OrderNotFoundError):
        watch(orders).wait("f" * 32, wait_s=30, any_step=False)
    assert orders.waits == 0


@pytest.fixture
def one_waiting() -> Iterator[tuple[OrderWatch, ScriptedOrders]]:
    """A watch with room for one waiter, and that one waiting."""
    orders = ScriptedOrders(status("processing_payment"))
    bounded = watch(orders, max_waiting=1)
    waiter = threading.Thread(
        target=bounded.wait, args=(ORDER_ID,), kwargs={"wait_s": 30, "any_step": False}
    )
    waiter.start()
    assert orders.waiting.wait(10)
    yield bounded, orders
    orders.release.set()
    waiter.join()


def test_beyond_the_bound_a_wait_is_refused(
    one_waiting: tuple[OrderWatch, ScriptedOrders],
) -> None:
    bounded, orders = one_waiting

    reads = orders.reads
    with pytest.raises(TooManyWaitingError):
        bounded.wait(ORDER_ID, wait_s=30, any_step=False)
    assert orders.reads == reads  # refused before reading daprd: a refusal is cheap
    # ...and a plain read (wait=0) needs no slot.
    assert bounded.wait(ORDER_ID, wait_s=0, any_step=False).step == "processing_payment"


def test_a_listener_leaves_nothing_behind() -> None:
    bell = StepBell()
    with bell.listen(ORDER_ID) as rung:
        bell.ring(ORDER_ID)
        assert rung.is_set()
    bell.ring(ORDER_ID)  # nobody listens: nothing to do
    assert bell._waiters == {}


# -- The route ---------------------------------------------------------------------------------


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def placed(client: FlaskClient, workflow_client: FakeWorkflowClient, step: str | None) -> str:
    order_id: str = client.post("/orders", json={"item": "cars", "quantity": 1}).get_json()[
        "order_id"
    ]
    state = workflow_client.instances[order_id]
    state.runtime_status = WorkflowStatus.RUNNING
    state.serialized_custom_status = step
    return order_id


def test_wait_answers_the_end_of_the_order(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = placed(client, workflow_client, "processing_payment")

    body = client.get(f"/orders/{order_id}?wait=30").get_json()

    # The fake's completion wait completes the order.
    assert body["status"] == "COMPLETED"


def test_wait_with_a_step_answers_a_different_step_at_once(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = placed(client, workflow_client, "processing_payment")

    for seen in ("", "verifying_inventory"):
        body = client.get(f"/orders/{order_id}?wait=30&step={seen}").get_json()
        assert (body["status"], body["step"]) == ("RUNNING", "processing_payment")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("wait=-1", "wait"),
        ("wait=31", "wait"),
        ("wait=soon", "wait"),
        ("wait=1.5", "wait"),
        ("wait=5&step=shipping", "step"),
    ],
)
def test_a_bad_wait_or_step_is_422_naming_it(
    client: FlaskClient, workflow_client: FakeWorkflowClient, query: str, field: str
) -> None:
    order_id = placed(client, workflow_client, "processing_payment")

    response = client.get(f"/orders/{order_id}?{query}")

    assert response.status_code == 422
    assert [f["field"] for f in response.get_json()["fields"]] == [field]


def test_wait_on_an_unknown_order_is_404(client: FlaskClient) -> None:
    response = client.get(f"/orders/{'e' * 32}?wait=30")

    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_beyond_the_bound_the_route_says_when_to_come_back(
    app: Flask, client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = placed(client, workflow_client, "processing_payment")
    ext = app.extensions["order_processor"]
    ext.watch._slots = threading.BoundedSemaphore(1)
    assert ext.watch._slots.acquire(blocking=False)  # one long poll holds the only slot

    response = client.get(f"/orders/{order_id}?wait=30&step=processing_payment")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "too_many_waiting"


def test_a_ring_just_before_the_request_still_counts() -> None:
    # The workflow set the step a moment before the client's request arrived, and daprd has
    # not saved it yet: the first read shows the old step, and the waiter must read again.
    bell = StepBell(remember_s=NEVER_S)
    bell.ring(ORDER_ID)
    orders = ScriptedOrders(status(None, "PENDING"), status("verifying_inventory"))

    answer = watch(orders, bell).wait(ORDER_ID, wait_s=30, any_step=True, step=None)

    assert answer.step == "verifying_inventory"


def test_the_bell_forgets_old_rings() -> None:
    bell = StepBell(remember_s=0.0)
    bell.ring(ORDER_ID)
    bell.ring("f" * 32)

    with bell.listen(ORDER_ID) as rung:
        assert not rung.is_set()
    assert bell._rung == {}  # nothing kept past remember_s: the memory stays bounded


def test_other_requests_take_only_gunicorn_threads_slots_and_give_them_back(
    app: Flask, client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    order_id = placed(client, workflow_client, "processing_payment")
    slots = threading.BoundedSemaphore(1)
    app.extensions["order_processor"].request_slots = slots
    # Requests that end well or badly give their slot back: one slot serves them in turn.
    for path in (f"/orders/{order_id}", f"/orders/{'e' * 32}", f"/orders/{order_id}"):
        client.get(path)
    assert slots.acquire(blocking=False)  # every slot is free again; now this test holds it

    # A long poll needs none...
    body = client.get(f"/orders/{order_id}?wait=30&step=").get_json()
    assert body["step"] == "processing_payment"

    # ...another request waits for one.
    answered: list[int] = []
    other = threading.Thread(target=lambda: answered.append(client.get("/readyz").status_code))
    other.start()
    other.join(0.2)
    assert other.is_alive()
    slots.release()
    other.join(5)
    assert answered
