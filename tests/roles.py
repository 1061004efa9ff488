"""The order API's role matrix: every request with every kind of caller, and the status each
gets. One table for the local system (tests/integration/test_roles.py) and the cluster
(tests/e2e/test_orders_on_cluster.py); the README's role matrix is this table."""

from __future__ import annotations

import json
from collections.abc import Callable

from contracts.roles import Role

CALLERS = ("none", "customer", "operator", "manager", "bad-token")

# What each caller gets, in the order of CALLERS. {order} is an order waiting for a manager,
# {paid} an order that was paid, {item} an item in stock.
#       request                                        none customer operator manager bad-token
MATRIX: list[tuple[str, tuple[int, int, int, int, int]]] = [
    ("POST /orders",                                  (202, 202, 202, 202, 202)),
    ("GET /orders/{order}",                           (200, 200, 200, 200, 200)),
    ("GET /orders/{order}?wait=5&step=",              (200, 200, 200, 200, 200)),
    ("POST /orders/{order}/approval",                 (401, 403, 403, 202, 401)),
    # Refused before the body is parsed or the order is looked up.
    ("POST /orders/no-such-order/approval",           (401, 403, 403, 404, 401)),
    ("POST /orders/{order}/approval malformed",       (401, 403, 403, 400, 401)),
    ("GET /inventory",                                (200, 200, 200, 200, 200)),
    ("GET /inventory/{item}",                         (200, 200, 200, 200, 200)),
    ("PUT /inventory/{item}",                         (401, 403, 200, 403, 401)),
    ("GET /payments/{paid}",                          (401, 403, 200, 200, 401)),
    ("GET /openapi.json",                             (200, 200, 200, 200, 200)),
    ("GET /healthz",                                  (200, 200, 200, 200, 200)),
    ("GET /readyz",                                   (200, 200, 200, 200, 200)),
]  # fmt: skip
CELLS = [
    (request, caller, statuses[index])
    for request, statuses in MATRIX
    for index, caller in enumerate(CALLERS)
]


def request_body(method: str, target: str, *, malformed: bool, item: str) -> bytes | None:
    """The body each request sends: one that would change something, were it let through."""
    if malformed:
        return b"{not json"
    if method == "PUT":
        return json.dumps({"quantity": 500, "unit_price": 1}).encode()  # a customer's dream
    if target == "/orders":
        return json.dumps({"item": item, "quantity": 1}).encode()
    if method == "POST":
        return json.dumps({"approved": True}).encode()
    return None


def credential(caller: str, bearer: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    """The headers a caller of CALLERS sends; ``bearer`` gives a role's, from wherever the
    system under test keeps its tokens."""
    if caller == "none":
        return {}
    if caller == "bad-token":
        return {"Authorization": "Bearer " + "0" * 64}
    return bearer(Role(caller))
