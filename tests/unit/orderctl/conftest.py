"""A fake order API behind ``httpx.MockTransport``, answering with the shared contract models."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

from contracts.errors import ErrorBody, FieldError
from contracts.inventory import InventoryItem, InventoryList
from contracts.orders import ApprovalAccepted, OrderAccepted, OrderResult, OrderStatus
from contracts.roles import Role
from orderctl.cli import cli
from orderctl.client import ENDED

ORDER_ID = "5f0c6a2e9b1d4e7f8a3b2c1d0e9f8a7b"
# The tokens the fake API knows, as the environment of each run gives them to orderctl.
TOKENS = {role: f"{role}-token-{'x' * 32}" for role in Role}
TOKEN_ENV = {role.token_variable: token for role, token in TOKENS.items()}


def order(
    status: str = "RUNNING",
    steps: str | None = None,
    result: OrderResult | None = None,
    order_id: str = ORDER_ID,
) -> OrderStatus:
    """``steps`` as the workflow publishes them: comma-separated, the current one last."""
    trail = steps.split(",") if steps else []
    return OrderStatus.model_validate(
        {
            "order_id": order_id,
            "status": status,
            "step": trail[-1] if trail else None,
            "steps": trail,
            "result": result,
        }
    )


@dataclass
class FakeOrderApi:
    """The order API as orderctl sees it. Each order answers its scripted statuses in turn,
    then keeps answering the last one, as a finished workflow does. A long poll (``wait``)
    skips the statuses that are no news to it (the step it has, not ended), as the API's
    wait does; a scripted int answers that error status (503s say Retry-After: 0)."""

    timeline: list[OrderStatus | int] = field(default_factory=list)
    stock: dict[str, InventoryItem] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    # Set to answer every request with this (status, body) instead.
    failure: tuple[int, str] | None = None
    awaiting_approval: bool = True
    # GET /readyz: 200 when ready, else 503 as the API answers while it starts.
    ready: bool = True
    # What a route answers before it answers for real, by (method, first path segment): an
    # int answers that error status, an exception is raised as the transport raises it.
    before: dict[tuple[str, str], list[int | httpx.TransportError]] = field(default_factory=dict)

    def script(self, *statuses: OrderStatus | int) -> None:
        """Statuses the next GETs of the order answer; an int answers that error status."""
        self.timeline = list(statuses)

    def bodies(self, method: str) -> list[Any]:
        return [json.loads(r.content) for r in self.requests if r.method == method and r.content]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failure is not None:
            return httpx.Response(self.failure[0], text=self.failure[1])
        path = request.url.raw_path.decode().split("?", 1)[0]
        route = (request.method, *path.split("/")[1:])
        scripted = self.before.get((request.method, route[1]), [])
        if scripted:
            first = scripted.pop(0)
            if isinstance(first, httpx.TransportError):
                raise first
            return _error(first, "unavailable", "scripted")
        refused = self._refusal(route, request.headers.get("Authorization"))
        if refused is not None:
            return refused
        match route:
            case ("POST", "orders"):
                response = _json(202, OrderAccepted(order_id=ORDER_ID, status="PENDING"))
            case ("GET", "orders", order_id):
                response = self._status(order_id, request.url.params)
            case ("POST", "orders", order_id, "approval"):
                response = self._decide(order_id, json.loads(request.content))
            case ("GET", "readyz"):
                status = "ready" if self.ready else "not_ready"
                response = httpx.Response(200 if self.ready else 503, json={"status": status})
            case ("GET", "inventory"):
                response = _json(200, InventoryList(items=list(self.stock.values())))
            case ("PUT", "inventory", name):
                response = self._restock(name, json.loads(request.content))
            case _:
                response = _error(404, "not_found", f"no route {request.url.path}")
        return response

    @staticmethod
    def _refusal(route: tuple[str, ...], authorization: str | None) -> httpx.Response | None:
        """The API's 401/403 for a call without the token of the role it needs."""
        match route:
            case ("POST", "orders", _, "approval"):
                needed = Role.MANAGER
            case ("PUT", "inventory", _):
                needed = Role.OPERATOR
            case _:
                return None
        sent = {f"Bearer {token}": role for role, token in TOKENS.items()}.get(authorization or "")
        if sent is None:
            return _error(401, "unauthorized", f"This needs a {needed}'s token")
        if sent is not needed:
            return _error(403, "forbidden", f"This needs a {needed}'s token; sent a {sent}'s")
        return None

    def _status(self, order_id: str, params: httpx.QueryParams) -> httpx.Response:
        if order_id != ORDER_ID or not self.timeline:
            return _error(404, "not_found", f"No order {order_id!r}")
        long_poll = int(params.get("wait", "0")) > 0
        while True:
            current = self.timeline.pop(0) if len(self.timeline) > 1 else self.timeline[0]
            if isinstance(current, int):
                error = "not_found" if current == 404 else "unavailable"
                response = _error(current, error, "scripted")
                if current >= 500:
                    response.headers["Retry-After"] = "0"
                return response
            news = current.status in ENDED or current.step != (params.get("step") or None)
            if not long_poll or news or len(self.timeline) <= 1:
                return _json(200, current)

    def _decide(self, order_id: str, body: dict[str, Any]) -> httpx.Response:
        if order_id != ORDER_ID:
            return _error(404, "not_found", f"No order {order_id!r}")
        if not self.awaiting_approval:
            return _error(409, "not_awaiting_approval", f"Order {order_id} is not waiting")
        return _json(202, ApprovalAccepted(order_id=order_id, approved=body["approved"]))

    def _restock(self, name: str, body: dict[str, Any]) -> httpx.Response:
        try:
            item = InventoryItem(name=name, **body)
        except ValidationError as err:
            fields = [FieldError(field=str(e["loc"][0]), message=e["msg"]) for e in err.errors()]
            return _error(422, "validation_error", "Invalid request", fields)
        self.stock[item.name] = item
        return _json(200, item)


def _json(status: int, model: Any) -> httpx.Response:
    return httpx.Response(status, content=model.model_dump_json(), headers=_JSON)


def _error(
    status: int, error: str, message: str, fields: list[FieldError] | None = None
) -> httpx.Response:
    body = ErrorBody(error=error, message=message, fields=fields)
    return httpx.Response(status, content=body.model_dump_json(exclude_none=True), headers=_JSON)


_JSON = {"content-type": "application/json"}

Run = Callable[..., Result]


@pytest.fixture
def api() -> FakeOrderApi:
    return FakeOrderApi()


@pytest.fixture
def run(api: FakeOrderApi) -> Run:
    """``run("place", "cars", "1")``: orderctl against the fake API, as a user would call it."""

    def invoke(
        *args: str,
        transport: httpx.BaseTransport | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        # Never the machine's own tokens file: only what a test gives.
        nowhere = {"ORDER_API_TOKENS": "/nonexistent/tokens.env"}
        runner = CliRunner(env={"ORDERCTL_URL": None, **nowhere, **TOKEN_ENV, **(env or {})})
        return runner.invoke(
            cli, list(args), obj=transport or api.transport(), catch_exceptions=False
        )

    return invoke


def lines(text: str) -> Sequence[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
