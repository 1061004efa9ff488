"""The order API's role matrix on the real system (`dapr run -f`, real daprd): every endpoint
with no credential, each role's token and a token of no role. A refusal is 401 (no known
token) or 403 (another role's), JSON naming what was missing, and changes nothing. The README's
role matrix is this table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.errors import assert_api_error
from tests.integration.system import OrderApi, Plan, new_item, running_system
from tests.roles import CELLS, credential, request_body

# An approval stays pending long after the test, so an order waits for whoever decides it.
APPROVAL_TIMEOUT_SECONDS = 300


@dataclass
class World:
    plan: Plan
    api: OrderApi
    item: str
    paid: str
    # Waits for a manager all along: only refusals and reads meet it.
    waiting: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    env = {"APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_SECONDS)}
    with running_system(tmp_path_factory.mktemp("roles"), env) as plan:
        api = OrderApi(plan)
        item = new_item()
        api.restock(item, quantity=1000, unit_price=5000)
        paid = api.place(item, 1)
        assert api.wait_for(paid)["result"]["processed"] is True
        _, waiting = api.place_awaiting_approval()
        yield World(plan, api, item, paid, waiting)


def _inventory(world: World) -> dict[str, Any]:
    response = world.api.inventory.get(f"/inventory/{world.item}")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(("request_line", "caller", "status"), CELLS, ids=str)
def test_each_endpoint_answers_each_credential_as_its_role_allows(
    world: World, request_line: str, caller: str, status: int
) -> None:
    method, target, *variant = request_line.split()
    order = world.waiting
    if target == "/orders/{order}/approval" and status == 202:
        _, order = world.api.place_awaiting_approval()  # decided here: one of its own
    path = target.format(order=order, item=world.item, paid=world.paid)
    # A new order is for an item of its own, never stocked: it ends at once, away from {item}.
    body = request_body(method, target, malformed=variant == ["malformed"], item=new_item())
    stock_before = _inventory(world)

    response = httpx.request(
        method,
        world.plan.apps["order-processor"].url + path,
        content=body,
        headers={"Content-Type": "application/json", **credential(caller, world.plan.bearer)},
        timeout=15,
    )

    assert response.status_code == status, response.text
    if status in {401, 403}:
        assert_api_error(
            response.status_code, response.json(), status=status, field="Authorization"
        )
        assert ("manager" if "approval" in path else "operator") in response.json()["message"]
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        # Nothing changed: the order still waits, the stock and its price are as they were.
        assert world.api.status(order)["step"] == "awaiting_approval"
        assert _inventory(world) == stock_before
