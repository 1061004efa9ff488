"""The manager's board: its sign-in and session, its guard against other sites, its page's
headers, and its event stream (fakes for daprd; the real browser is tests/integration)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dapr.ext.workflow import WorkflowStatus
from flask import Flask
from flask.testing import FlaskClient

from contracts.orders import OrderProgress
from contracts.roles import Role
from order_processor.board.routes import CSP
from order_processor.engine import Engine
from order_processor.following.bell import StepBell
from order_processor.following.reads import OrderReader
from order_processor.following.watch import OrderWatch
from tests.unit.fakes import FakeWorkflowClient, FakeWorkflowState
from tests.unit.order_processor.conftest import TOKENS

ORDER_ID = "0123456789abcdef0123456789abcdef"
AWAITING = OrderProgress.model_validate(
    {"trail": [{"step": "awaiting_approval", "at": "2026-12-02T12:00:00Z"}], "total": 55000}
).encode()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in(client: FlaskClient, role: Role = Role.MANAGER) -> Any:
    return client.post("/board/session", json={"token": TOKENS[role]})


def awaiting(workflow_client: FakeWorkflowClient) -> None:
    workflow_client.instances[ORDER_ID] = FakeWorkflowState(
        ORDER_ID,
        WorkflowStatus.RUNNING,
        '{"item": "cars", "quantity": 11, "approval_timeout_seconds": 60}',
        None,
        AWAITING,
    )


def test_the_managers_token_signs_in_with_a_cookie_no_script_reads_nor_another_site_sends(
    client: FlaskClient,
) -> None:
    response = sign_in(client)

    assert response.status_code == 200
    assert len(response.get_json()["csrf_token"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("board_session=")
    assert {"HttpOnly", "SameSite=Strict", "Path=/board"} <= {
        part.strip() for part in cookie.split(";")
    }
    assert TOKENS[Role.MANAGER] not in cookie


@pytest.mark.parametrize("token", [TOKENS[Role.CUSTOMER], TOKENS[Role.OPERATOR], "x" * 40])
def test_any_other_token_is_refused_and_sets_no_cookie(client: FlaskClient, token: str) -> None:
    response = client.post("/board/session", json={"token": token})

    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/board/session"),
        ("get", "/board/events"),
        ("post", f"/board/orders/{ORDER_ID}/decision"),
    ],
)
def test_without_a_session_the_board_answers_401(
    client: FlaskClient, workflow_client: FakeWorkflowClient, method: str, path: str
) -> None:
    awaiting(workflow_client)

    response = getattr(client, method)(path, json={"approved": True})

    assert response.status_code == 401
    assert response.get_json()["fields"][0]["field"] == "board_session"
    assert workflow_client.events == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-CSRF-Token": "forged"}, {"Origin": "http://evil.example"}],
    ids=["no-csrf", "forged-csrf", "other-origin"],
)
def test_a_decision_without_the_sessions_csrf_token_or_from_another_site_is_403(
    client: FlaskClient, workflow_client: FakeWorkflowClient, headers: dict[str, str]
) -> None:
    awaiting(workflow_client)
    csrf = sign_in(client).get_json()["csrf_token"]
    if "Origin" in headers:
        headers = {**headers, "X-CSRF-Token": csrf}

    response = client.post(
        f"/board/orders/{ORDER_ID}/decision", json={"approved": True}, headers=headers
    )

    assert response.status_code == 403
    assert workflow_client.events == []


def test_a_decision_with_the_session_reaches_the_workflow(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    awaiting(workflow_client)
    csrf = sign_in(client).get_json()["csrf_token"]

    response = client.post(
        f"/board/orders/{ORDER_ID}/decision",
        json={"approved": False},
        headers={"X-CSRF-Token": csrf, "Origin": "http://localhost"},
    )

    assert response.status_code == 202
    assert [(order, event) for order, event, _ in workflow_client.events] == [
        (ORDER_ID, "manager_approval")
    ]


def test_signing_out_ends_the_session(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/board/session").status_code == 200

    assert client.delete("/board/session").status_code == 204
    assert client.get("/board/session").status_code == 401


def test_the_page_allows_no_inline_script(client: FlaskClient) -> None:
    response = client.get("/board")

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CSP
    script_src = re.search(r"script-src ([^;]*)", CSP)
    assert script_src is not None
    assert script_src.group(1) == "'self'"
    html = response.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/board/static/board.js" defer>']
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handler either


def test_the_script_writes_no_html(client: FlaskClient) -> None:
    script = client.get("/board/static/board.js").get_data(as_text=True)

    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script


def test_the_stream_starts_with_every_order_and_the_stock(
    client: FlaskClient, workflow_client: FakeWorkflowClient
) -> None:
    awaiting(workflow_client)
    sign_in(client)

    response = client.get("/board/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    events = (chunk if isinstance(chunk, str) else chunk.decode() for chunk in response.response)
    first = next(event for event in events if event.startswith("event: board"))
    response.close()
    board = json.loads(first.split("data: ", 1)[1])

    assert [(o["order_id"], o["step"], o["total"]) for o in board["orders"]] == [
        (ORDER_ID, "awaiting_approval", 55000)
    ]
    assert isinstance(board["stock"], list)
    assert board["trace_search"].startswith("http")


# Unheard, the ring would leave the wait to its hour-long recheck: the timeout fails the test.
@pytest.mark.timeout(30)
def test_the_changes_wait_hears_a_ring_of_any_order() -> None:
    bell = StepBell(remember_s=0.0)
    reads = iter(range(1000))
    reader = OrderReader(Engine(FakeWorkflowClient))
    watch = OrderWatch(reader, max_waiting=1, bell=bell, recheck_s=3600.0)

    changes = watch.changes(lambda: next(reads) // 2, wait_s=3600)
    assert next(changes) == 0
    bell.ring("some-other-order")  # while the stream listens, between two of its events

    # Woken by the ring (a recheck would take an hour): read again until the value changed.
    assert next(changes) == 1


def test_progress_reads_back_what_it_wrote_and_what_older_revisions_wrote() -> None:
    progress = OrderProgress.decode(AWAITING)

    assert (progress.step, progress.total) == ("awaiting_approval", 55000)
    assert OrderProgress.decode(progress.encode()) == progress
    assert OrderProgress.decode("verifying_inventory,awaiting_approval").steps == [
        "verifying_inventory",
        "awaiting_approval",
    ]
    assert OrderProgress.decode(None).steps == []


def test_a_stream_beyond_the_bound_is_a_503_with_retry_after(
    client: FlaskClient, app: Flask
) -> None:
    sign_in(client)
    processor = app.extensions["order_processor"]
    slots = processor.watch._slots
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        response = client.get("/board/events")
    finally:
        for _ in range(taken):
            slots.release()

    assert response.status_code == 503
    assert response.get_json()["error"] == "too_many_waiting"
    assert response.headers["Retry-After"] == "1"
