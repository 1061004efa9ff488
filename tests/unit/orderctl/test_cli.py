"""Every orderctl command against a fake order API: output, --json, exit codes 0/1/2."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import get_args

import httpx
import pytest
from click.testing import CliRunner

from contracts.errors import ErrorBody
from contracts.inventory import InventoryItem, InventoryList
from contracts.orders import (
    ApprovalAccepted,
    FailureReason,
    OrderAccepted,
    OrderResult,
    OrderStatus,
    Step,
)
from contracts.roles import Role
from orderctl.cli import REASON_TEXT, STEP_TEXT, cli
from tests.unit.orderctl.conftest import ORDER_ID, TOKENS, FakeOrderApi, Run, lines, order

PROCESSED = OrderResult(processed=True, total=55_000)


def no_wait(*args: str) -> tuple[str, ...]:
    """Place and follow: the fake answers each long poll at once."""
    return ("place", *args, "--wait")


def long_polls(api: FakeOrderApi) -> list[httpx.QueryParams]:
    return [r.url.params for r in api.requests if r.method == "GET"]


# -- place -------------------------------------------------------------------------------------


def test_place_sends_the_order_and_prints_its_id(api: FakeOrderApi, run: Run) -> None:
    result = run("place", "cars", "2")

    assert result.exit_code == 0, result.output
    assert api.bodies("POST") == [{"item": "cars", "quantity": 2}]
    assert f"Order {ORDER_ID} accepted: 2 of cars" in result.stdout
    assert f"orderctl status {ORDER_ID}" in result.stdout


def test_wait_shows_the_steps_passed_between_two_answers(api: FakeOrderApi, run: Run) -> None:
    # The first answer comes when the order is already waiting for approval, the next once
    # it has failed: the steps in between were never the current one at an answer.
    api.script(
        order("RUNNING", "verifying_inventory,awaiting_approval"),
        order(
            "COMPLETED",
            "verifying_inventory,awaiting_approval,compensating,failed",
            OrderResult(processed=False, reason="approval_rejected", total=55_000),
        ),
    )

    result = run(*no_wait("cars", "11"))

    shown = lines(result.stdout)
    steps = [line.split()[1] for line in shown if line.split()[0].endswith("s")]
    assert steps == ["verifying_inventory", "awaiting_approval", "compensating", "failed"]
    assert result.exit_code == 1


def test_place_json_prints_the_api_answer_only(run: Run) -> None:
    result = run("--json", "place", "cars", "1")

    assert result.exit_code == 0
    assert OrderAccepted.model_validate_json(result.stdout).order_id == ORDER_ID
    assert len(result.stdout.strip().splitlines()) == 1


def test_wait_shows_each_step_once_in_order_then_the_result(api: FakeOrderApi, run: Run) -> None:
    verified = "verifying_inventory,awaiting_approval"
    api.script(
        order("PENDING"),
        order("RUNNING", "verifying_inventory"),
        order("RUNNING", "verifying_inventory"),
        order("RUNNING", verified),
        order("RUNNING", verified),
        order("RUNNING", verified),
        order("RUNNING", f"{verified},processing_payment"),
        order("RUNNING", f"{verified},processing_payment,updating_inventory"),
        order(
            "COMPLETED", f"{verified},processing_payment,updating_inventory,completed", PROCESSED
        ),
    )

    result = run(*no_wait("cars", "11"))

    assert result.exit_code == 0, result.output
    shown = lines(result.stdout)
    assert shown[0] == f"Order {ORDER_ID} placed: 11 of cars"
    steps = [line.split()[1] for line in shown if line.split()[0].endswith("s")]
    assert steps == [
        "verifying_inventory",
        "awaiting_approval",
        "processing_payment",
        "updating_inventory",
        "completed",
    ]
    hint = shown.index(next(line for line in shown if "awaiting_approval" in line)) + 1
    assert f"approve: orderctl approve {ORDER_ID}" in shown[hint]
    assert f"reject:  orderctl reject {ORDER_ID}" in shown[hint + 1]
    assert shown[-1] == f"✔ Order {ORDER_ID} processed: total 55,000 USD"
    assert "\x1b[" not in result.stdout  # no colour codes outside a terminal
    # One long poll per step, each for the step after the one shown: no polling.
    assert [(q["wait"], q["step"]) for q in long_polls(api)] == [
        ("30", ""),
        ("30", "verifying_inventory"),
        ("30", "awaiting_approval"),
        ("30", "processing_payment"),
        ("30", "updating_inventory"),
    ]


@pytest.mark.parametrize("reason", get_args(FailureReason))
def test_wait_exits_1_when_the_order_is_not_processed(
    api: FakeOrderApi, run: Run, reason: FailureReason
) -> None:
    api.script(
        order("RUNNING", "verifying_inventory"),
        order("COMPLETED", "failed", OrderResult(processed=False, reason=reason)),
    )

    result = run(*no_wait("cars", "1"))

    assert result.exit_code == 1
    assert lines(result.stdout)[-1] == (
        f"✘ Order {ORDER_ID} not processed: {reason} ({REASON_TEXT[reason]})"
    )


@pytest.mark.parametrize("status", ["FAILED", "TERMINATED"])
def test_wait_exits_1_when_the_workflow_itself_ends_badly(
    api: FakeOrderApi, run: Run, status: str
) -> None:
    api.script(order(status, "compensating"))

    result = run(*no_wait("cars", "1"))

    assert result.exit_code == 1
    assert f"not processed: the workflow ended {status}" in result.stdout


@pytest.mark.parametrize(
    ("final", "code"),
    [(order("COMPLETED", "completed", PROCESSED), 0), (order("FAILED", "failed"), 1)],
)
def test_wait_json_prints_only_the_final_order(
    api: FakeOrderApi, run: Run, final: OrderStatus, code: int
) -> None:
    api.script(
        order("RUNNING", "verifying_inventory"), order("RUNNING", "awaiting_approval"), final
    )

    result = run("--json", *no_wait("cars", "1"))

    assert result.exit_code == code
    assert OrderStatus.model_validate_json(result.stdout) == final
    assert len(result.stdout.strip().splitlines()) == 1


def test_wait_gives_up_at_the_timeout_with_exit_1(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "awaiting_approval"))

    result = run("place", "cars", "11", "--wait", "--timeout", "0")

    assert result.exit_code == 1
    assert "has not ended after 0 s (step: awaiting_approval)" in result.stderr
    assert f"orderctl status {ORDER_ID}" in result.stderr
    assert [q["wait"] for q in long_polls(api)] == ["0"]


def test_wait_json_timeout_still_prints_one_document(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "awaiting_approval"))

    result = run("--json", "place", "cars", "11", "--wait", "--timeout", "0")

    assert result.exit_code == 1
    assert OrderStatus.model_validate_json(result.stdout).step == "awaiting_approval"


def test_wait_rides_out_a_passing_5xx(api: FakeOrderApi, run: Run) -> None:
    api.script(
        order("RUNNING", "processing_payment"), 503, 503, order("COMPLETED", "completed", PROCESSED)
    )

    result = run(*no_wait("cars", "1"))

    assert result.exit_code == 0, result.output


def test_wait_stops_at_a_4xx(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "verifying_inventory"), 404)

    result = run(*no_wait("cars", "1"))

    assert result.exit_code == 2
    assert "answered 404 not_found" in result.stderr


def test_every_step_and_reason_has_words() -> None:
    assert set(STEP_TEXT) == set(get_args(Step))
    assert set(REASON_TEXT) == set(get_args(FailureReason))


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "code", "says"),
    [
        (order("PENDING"), 0, "PENDING, step not started"),
        (order("RUNNING", "awaiting_approval"), 0, f"approve: orderctl approve {ORDER_ID}"),
        (order("COMPLETED", "completed", PROCESSED), 0, "processed: total 55,000 USD"),
        (
            order("COMPLETED", "failed", OrderResult(processed=False, reason="approval_timeout")),
            1,
            "not processed: approval_timeout",
        ),
        (order("TERMINATED"), 1, "not processed: the workflow ended TERMINATED"),
    ],
)
def test_status(api: FakeOrderApi, run: Run, current: OrderStatus, code: int, says: str) -> None:
    api.script(current)

    result = run("status", ORDER_ID)
    as_json = run("--json", "status", ORDER_ID)

    assert (result.exit_code, as_json.exit_code) == (code, code)
    assert says in result.stdout
    assert OrderStatus.model_validate_json(as_json.stdout) == current


def test_status_of_an_unknown_order_is_exit_2_with_the_api_message(run: Run) -> None:
    result = run("status", "nope")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "orderctl: the order API answered 404 not_found: No order 'nope'"
    )


# -- approve, reject ---------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "approved"), [("approve", True), ("reject", False)])
def test_decision_is_sent(api: FakeOrderApi, run: Run, command: str, approved: bool) -> None:
    result = run(command, ORDER_ID)
    as_json = run("--json", command, ORDER_ID)

    assert result.exit_code == 0
    assert as_json.exit_code == 0
    assert api.bodies("POST") == [{"approved": approved}] * 2
    assert api.requests[0].url.path == f"/orders/{ORDER_ID}/approval"
    assert f"{'Approved' if approved else 'Rejected'} order {ORDER_ID}." in result.stdout
    assert ApprovalAccepted.model_validate_json(as_json.stdout).approved is approved


def test_decision_on_an_order_not_waiting_is_exit_2(api: FakeOrderApi, run: Run) -> None:
    api.awaiting_approval = False

    result = run("approve", ORDER_ID)
    as_json = run("--json", "approve", ORDER_ID)

    assert (result.exit_code, as_json.exit_code) == (2, 2)
    assert "answered 409 not_awaiting_approval" in result.stderr
    assert ErrorBody.model_validate_json(as_json.stdout).error == "not_awaiting_approval"


# -- the role tokens ---------------------------------------------------------------------------

COMMANDS_AND_ROLES: list[tuple[tuple[str, ...], Role | None]] = [
    (("approve", ORDER_ID), Role.MANAGER),
    (("reject", ORDER_ID), Role.MANAGER),
    (("restock", "cars", "20", "5000"), Role.OPERATOR),
    (("place", "cars", "1"), None),
    (("status", ORDER_ID), None),
    (("inventory",), None),
]


@pytest.mark.parametrize(("args", "role"), COMMANDS_AND_ROLES, ids=str)
def test_each_command_sends_only_the_token_its_call_needs(
    api: FakeOrderApi, run: Run, args: tuple[str, ...], role: Role | None
) -> None:
    api.script(order("RUNNING", "awaiting_approval"))

    result = run(*args)

    assert result.exit_code == 0, result.output
    sent = [r.headers.get("Authorization") for r in api.requests]
    assert sent == [None if role is None else f"Bearer {TOKENS[role]}"]
    assert all(token not in result.output for token in TOKENS.values())


@pytest.mark.parametrize(
    ("args", "role"),
    [(("approve", ORDER_ID), Role.MANAGER), (("restock", "cars", "1", "1"), Role.OPERATOR)],
    ids=str,
)
def test_without_the_token_a_command_is_exit_2_naming_its_variable_and_calls_nothing(
    api: FakeOrderApi, run: Run, tmp_path: Path, args: tuple[str, ...], role: Role
) -> None:
    tokens_file = tmp_path / "tokens.env"
    tokens_file.write_text("APP_API_TOKEN=abc\n")
    variable = role.token_variable

    result = run(*args, env={variable: None, "ORDER_API_TOKENS": str(tokens_file)})

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"orderctl: {args[0]} needs the {role}'s token: set {variable}, "
        f"or ORDER_API_TOKENS to a file that holds it ({tokens_file}: no {variable} in it)"
    )
    assert api.requests == []


def test_a_token_comes_from_the_file_order_api_tokens_names(
    api: FakeOrderApi, run: Run, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "cluster-tokens.env"
    tokens_file.write_text(f"APP_API_TOKEN=abc\nMANAGER_API_TOKEN={TOKENS[Role.MANAGER]}\n")

    result = run(
        "approve", ORDER_ID, env={"MANAGER_API_TOKEN": None, "ORDER_API_TOKENS": str(tokens_file)}
    )

    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["Authorization"] == f"Bearer {TOKENS[Role.MANAGER]}"


def test_by_default_the_token_comes_from_the_machines_tokens_file(
    api: FakeOrderApi, run: Run, tmp_path: Path
) -> None:
    tokens_file = tmp_path / ".local" / "state" / "dapr-order-processing" / "tokens.env"
    tokens_file.parent.mkdir(parents=True)
    tokens_file.write_text(f"OPERATOR_API_TOKEN={TOKENS[Role.OPERATOR]}\n")
    env = {"OPERATOR_API_TOKEN": None, "ORDER_API_TOKENS": None, "HOME": str(tmp_path)}

    result = run("restock", "cars", "1", "1", env=env)

    assert result.exit_code == 0, result.output
    assert api.requests[0].headers["Authorization"] == f"Bearer {TOKENS[Role.OPERATOR]}"


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("not-the-managers", "answered 401 unauthorized: This needs a manager's token"),
        (
            TOKENS[Role.OPERATOR],
            "answered 403 forbidden: This needs a manager's token; sent a operator's",
        ),
    ],
)
def test_a_refusal_is_the_apis_message_and_where_the_token_came_from(
    api: FakeOrderApi, run: Run, token: str, says: str
) -> None:
    result = run("approve", ORDER_ID, env={"MANAGER_API_TOKEN": token})

    assert result.exit_code == 2
    assert says in result.stderr
    assert result.stderr.rstrip().endswith("; orderctl sent MANAGER_API_TOKEN")
    assert token not in result.output


# -- inventory, restock ------------------------------------------------------------------------


def test_inventory_is_a_table(api: FakeOrderApi, run: Run) -> None:
    api.stock = {
        "cars": InventoryItem(name="cars", unit_price=5000, quantity=9, reserved=11),
        "paperclip": InventoryItem(name="paperclip", unit_price=5, quantity=100),
    }

    result = run("inventory")

    assert result.exit_code == 0
    rows = [re.findall(r"[\w,]+", line) for line in lines(result.stdout)]
    rows = [row for row in rows if row]  # the table's borders have no words
    assert rows == [
        ["name", "unit_price", "quantity", "reserved"],
        ["cars", "5,000", "9", "11"],
        ["paperclip", "5", "100", "0"],
    ]


def test_inventory_json_and_empty(api: FakeOrderApi, run: Run) -> None:
    empty = run("inventory")
    api.stock = {"cars": InventoryItem(name="cars", unit_price=5000, quantity=1)}
    as_json = run("--json", "inventory")

    assert empty.exit_code == 0
    assert "No items yet: orderctl restock ITEM QTY PRICE" in empty.stdout
    assert InventoryList.model_validate_json(as_json.stdout).items == list(api.stock.values())


def test_restock_puts_absolute_values(api: FakeOrderApi, run: Run) -> None:
    result = run("restock", "cars", "20", "5000")
    as_json = run("--json", "restock", "cars", "20", "5000")

    assert (result.exit_code, as_json.exit_code) == (0, 0)
    put = [r for r in api.requests if r.method == "PUT"]
    assert [r.url.path for r in put] == ["/inventory/cars"] * 2
    assert api.bodies("PUT") == [{"quantity": 20, "unit_price": 5000}] * 2
    assert "cars: 20 available at 5,000 USD each (0 reserved" in result.stdout
    assert InventoryItem.model_validate_json(as_json.stdout).quantity == 20


def test_an_item_name_stays_one_path_segment(api: FakeOrderApi, run: Run) -> None:
    run("restock", "../orders?x=1", "1", "1")

    assert api.requests[0].url.raw_path == b"/inventory/..%2Forders%3Fx%3D1"


# -- errors ------------------------------------------------------------------------------------


def test_api_validation_error_names_the_fields(api: FakeOrderApi, run: Run) -> None:
    api.failure = (
        422,
        ErrorBody.model_validate(
            {
                "error": "validation_error",
                "message": "Invalid request: item",
                "fields": [{"field": "item", "message": "String should match pattern"}],
            }
        ).model_dump_json(),
    )

    result = run("place", "bad name!", "1")
    as_json = run("--json", "place", "bad name!", "1")

    assert (result.exit_code, as_json.exit_code) == (2, 2)
    assert result.stderr.strip() == (
        "orderctl: the order API answered 422 validation_error: Invalid request: item "
        "(item: String should match pattern)"
    )
    assert ErrorBody.model_validate_json(as_json.stdout).fields is not None


def test_an_error_that_is_not_json_is_shown_raw(api: FakeOrderApi, run: Run) -> None:
    api.failure = (502, "<html>Bad Gateway</html>")

    result = run("inventory")

    assert result.exit_code == 2
    assert "the order API answered 502: <html>Bad Gateway</html>" in result.stderr


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectTimeout("timed out"), "no answer within 10 s"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), "Name or service not known"),
    ],
)
def test_unreachable_api_is_one_clear_line_and_exit_2(
    run: Run, error: httpx.TransportError, reason: str
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise error

    result = run("place", "cars", "1", transport=httpx.MockTransport(refuse))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(
        "orderctl: cannot reach the order API at http://localhost:8080: "
    )
    assert reason in result.stderr
    assert result.stderr.rstrip().endswith("is `make run` running?")


def test_nothing_listening_is_connection_refused() -> None:
    """The real transport, on a port nobody listens on: the message users will actually see."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = CliRunner().invoke(cli, ["--url", url, "status", ORDER_ID])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"orderctl: cannot reach the order API at {url}: connection refused; is `make run` running?"
    )


def test_url_comes_from_the_environment(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "awaiting_approval"))

    result = run("status", ORDER_ID, env={"ORDERCTL_URL": "http://orders.example:9000/"})

    assert result.exit_code == 0
    assert str(api.requests[0].url) == f"http://orders.example:9000/orders/{ORDER_ID}"
    # The environment still holds the URL for the next command: the hint needs no --url.
    assert f"approve: orderctl approve {ORDER_ID}" in result.stdout


def test_a_url_given_on_the_command_line_is_repeated_in_hints(api: FakeOrderApi, run: Run) -> None:
    api.script(order("RUNNING", "awaiting_approval"))

    result = run("--url", "http://orders.example:9000", "status", ORDER_ID)

    assert str(api.requests[0].url) == f"http://orders.example:9000/orders/{ORDER_ID}"
    assert f"orderctl --url http://orders.example:9000 approve {ORDER_ID}" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("place", "cars"),
        ("place", "cars", "0"),
        ("place", "cars", "many"),
        ("restock", "cars", "-1", "5"),
        ("approve",),
        ("launch",),
    ],
)
def test_usage_errors_are_exit_2_and_call_nothing(
    api: FakeOrderApi, run: Run, args: tuple[str, ...]
) -> None:
    result = run(*args)

    assert result.exit_code == 2
    assert api.requests == []


def test_json_output_is_valid_json_for_every_command(api: FakeOrderApi, run: Run) -> None:
    api.script(order("COMPLETED", "completed", PROCESSED))
    commands = [
        ("place", "cars", "1"),
        no_wait("cars", "1"),
        ("status", ORDER_ID),
        ("approve", ORDER_ID),
        ("reject", ORDER_ID),
        ("restock", "cars", "1", "1"),
        ("inventory",),
    ]
    for command in commands:
        result = run("--json", *command)
        assert result.exit_code == 0, (command, result.output)
        assert isinstance(json.loads(result.stdout), dict), command
