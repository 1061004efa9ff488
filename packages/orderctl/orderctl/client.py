"""The order API over HTTP, answers read with the shared contracts.

Two failures matter to a user, and each is its own exception so the CLI can say which:
the API cannot be reached (``ApiUnreachableError``), or it answered with an error (``ApiError``).
A call that needs a role sends that role's bearer token (``orderctl.credentials``): a manager's
to decide an approval, an operator's to restock; the others send none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from contracts.errors import ErrorBody
from contracts.inventory import InventoryItem, InventoryList, Restock
from contracts.orders import (
    MAX_WAIT_SECONDS,
    ApprovalAccepted,
    ApprovalDecision,
    OrderAccepted,
    OrderRequest,
    OrderStatus,
)
from contracts.roles import Role
from orderctl.credentials import Credentials, Token

DEFAULT_URL = "http://localhost:8080"
REQUEST_TIMEOUT_S = 10.0
# The statuses of an order whose workflow has ended: its answer will not change again.
ENDED = frozenset({"COMPLETED", "FAILED", "TERMINATED"})
# A 5xx without Retry-After (a sidecar restarting): try again after this long.
RETRY_PAUSE_S = 1.0

M = TypeVar("M", bound=BaseModel)


class Readiness(BaseModel):
    """``GET /readyz``'s answer when the API is ready; not ready yet is a 503."""

    status: str


class ApiUnreachableError(Exception):
    """No HTTP answer at all: nothing listens, the host is unknown, or it timed out."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the order API at {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(Exception):
    """The API answered with an error status; ``body`` is its ``ErrorBody`` when it sent one."""

    def __init__(
        self,
        status: int,
        body: ErrorBody | None,
        text: str,
        *,
        retry_after_s: float | None = None,
        token: Token | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.text = text
        # The API's Retry-After (e.g. too many long polls waiting), when it sent one.
        self.retry_after_s = retry_after_s
        # The token the refused call sent, if any: a 401/403 says where it came from.
        self.token = token
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: the API's own message and the fields it named, or the raw answer."""
        if self.body is None:
            return f"the order API answered {self.status}: {self.text.strip()[:200] or '(empty)'}"
        line = f"the order API answered {self.status} {self.body.error}: {self.body.message}"
        if self.body.fields:
            line += " (" + "; ".join(f"{f.field}: {f.message}" for f in self.body.fields) + ")"
        if self.status in {401, 403} and self.token is not None:
            line += f"; orderctl sent {self.token.source}"
        return line

    @property
    def transient(self) -> bool:
        """A 5xx may pass (a sidecar restarting); a 4xx will not."""
        return self.status >= 500


def pause_before_retry(
    err: ApiError | ApiUnreachableError, deadline: float, *, pause_s: float = RETRY_PAUSE_S
) -> None:
    """Sleep before trying the call that failed with ``err`` again: as long as the API asked
    (Retry-After), else ``pause_s``; never past ``deadline`` (a ``time.monotonic()`` instant)."""
    if isinstance(err, ApiError) and err.retry_after_s is not None:
        pause_s = err.retry_after_s
    time.sleep(max(min(pause_s, deadline - time.monotonic()), 0))


def _reason(err: httpx.TransportError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {REQUEST_TIMEOUT_S:.0f} s"
    text = str(err)
    if "refused" in text.lower():
        return "connection refused"
    return text or type(err).__name__


def _segment(value: str) -> str:
    """One path segment: user input must never add a segment or a query."""
    return quote(value, safe="")


class OrderClient:
    """One method per API call; each returns the contract model of the answer."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        credentials: Credentials | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials or Credentials()
        self._timeout_s = timeout_s
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        answer: type[M],
        body: BaseModel | None = None,
        *,
        params: dict[str, Any] | None = None,
        held_s: float = 0.0,
        role: Role | None = None,
        headers: dict[str, str] | None = None,
    ) -> M:
        """``held_s``: how long the API may hold the answer (a long poll), on top of the
        client's timeout. ``role``: the call sends that role's token (``MissingTokenError``,
        before any request, when there is none)."""
        token = None if role is None else self._credentials.token(role)
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token.value}"
        payload: Any = None if body is None else body.model_dump(mode="json")
        timeout = httpx.USE_CLIENT_DEFAULT if not held_s else self._timeout_s + held_s
        try:
            response = self._http.request(
                method, path, json=payload, params=params, headers=headers, timeout=timeout
            )
        except httpx.TransportError as err:
            raise ApiUnreachableError(self.base_url, _reason(err)) from err
        if response.is_error:
            raise ApiError(
                response.status_code,
                _error_body(response),
                response.text,
                retry_after_s=_retry_after(response),
                token=token,
            )
        return answer.model_validate_json(response.content)

    def ready(self) -> Readiness:
        """``GET /readyz``: answers once the API can place and follow orders; until then an
        ``ApiError`` 503, and nothing listening at all while the server starts."""
        return self._call("GET", "/readyz", Readiness)

    def place(
        self, item: str, quantity: int, *, idempotency_key: str | None = None
    ) -> OrderAccepted:
        """``idempotency_key``: sent again with a retried request, the API answers the same
        order instead of placing a second one."""
        # Built by hand, not OrderRequest(...): the API is the one place input is judged,
        # so its 422 (with the field names) is what the user sees.
        request = OrderRequest.model_construct(item=item, quantity=quantity)
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        return self._call("POST", "/orders", OrderAccepted, request, headers=headers)

    def status(self, order_id: str) -> OrderStatus:
        return self._call("GET", f"/orders/{_segment(order_id)}", OrderStatus)

    def next_status(self, order_id: str, *, step: str | None, wait_s: int) -> OrderStatus:
        """Long poll: the order once its step is not ``step`` (None: no step yet) or it has
        ended, or as it is after ``wait_s`` seconds (at most ``MAX_WAIT_SECONDS``)."""
        wait_s = max(0, min(wait_s, MAX_WAIT_SECONDS))
        params = {"wait": wait_s, "step": step or ""}
        path = f"/orders/{_segment(order_id)}"
        return self._call("GET", path, OrderStatus, params=params, held_s=wait_s)

    def follow(self, order_id: str, *, deadline: float) -> Iterator[OrderStatus]:
        """The order as each long poll for the step after the last one seen answers it, until
        it has ended or ``deadline`` (a ``time.monotonic()`` instant) has passed: nothing
        polls. A 5xx (a sidecar restarting; too many clients waiting, when the API says when
        to come back) is waited out like a slow step; any other error, or a 5xx still there
        at the deadline, is raised."""
        step: str | None = None
        while True:
            try:
                # Rounded up: never a string of instant answers in the last second.
                wait_s = math.ceil(max(deadline - time.monotonic(), 0))
                order = self.next_status(order_id, step=step, wait_s=wait_s)
            except ApiError as err:
                if not err.transient or time.monotonic() >= deadline:
                    raise
                pause_before_retry(err, deadline)
                continue
            yield order
            if order.status in ENDED or time.monotonic() >= deadline:
                return
            step = order.step

    def decide(self, order_id: str, *, approved: bool) -> ApprovalAccepted:
        path = f"/orders/{_segment(order_id)}/approval"
        decision = ApprovalDecision(approved=approved)
        return self._call("POST", path, ApprovalAccepted, decision, role=Role.MANAGER)

    def inventory(self) -> InventoryList:
        return self._call("GET", "/inventory", InventoryList)

    def restock(self, item: str, quantity: int, unit_price: int) -> InventoryItem:
        body = Restock.model_construct(quantity=quantity, unit_price=unit_price)
        path = f"/inventory/{_segment(item)}"
        return self._call("PUT", path, InventoryItem, body, role=Role.OPERATOR)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers["retry-after"]), 0.0)
    except (KeyError, ValueError):
        return None


def _error_body(response: httpx.Response) -> ErrorBody | None:
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return None
