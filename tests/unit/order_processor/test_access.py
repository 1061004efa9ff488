"""order_processor.access: each endpoint's roles, 401 without a known token and 403 with another
role's, decided before anything else is looked up; tokens compared in constant time and never
logged."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from contracts.roles import Role
from order_processor import access, extension
from order_processor.access import RoleTokens
from servicekit.web import create_service_app
from tests.unit.fakes import DaprMesh, FakeWorkflowClient
from tests.unit.order_processor.conftest import CUSTOMER, MANAGER, OPERATOR, TOKENS, app_settings

# Who calls: no token at all, each role's token, a token no role has, and no bearer at all.
CALLERS: dict[str, dict[str, str]] = {
    "none": {},
    "customer": CUSTOMER,
    "operator": OPERATOR,
    "manager": MANAGER,
    "bad-token": {"Authorization": "Bearer not-a-token-of-anyone-at-all-0123456789"},
    "basic-auth": {"Authorization": "Basic bWFuYWdlcjpzZWNyZXQ="},
}
RESTOCK = {"quantity": 3, "unit_price": 5000}

# (method, path, body) of every route, and the callers it lets through; every other caller
# gets 401 (no known token) or 403 (a known token of another role).
ENDPOINTS: list[tuple[str, str, Any, set[str]]] = [
    ("POST", "/orders", {"item": "cars", "quantity": 1}, set(CALLERS)),
    ("GET", "/orders/some-order", None, set(CALLERS)),
    ("GET", "/orders/some-order?wait=0", None, set(CALLERS)),
    ("POST", "/orders/some-order/approval", {"approved": True}, {"manager"}),
    ("GET", "/inventory", None, set(CALLERS)),
    ("GET", "/inventory/cars", None, set(CALLERS)),
    ("PUT", "/inventory/cars", RESTOCK, {"operator"}),
    ("GET", "/payments/some-order", None, {"operator", "manager"}),
    ("GET", "/openapi.json", None, set(CALLERS)),
    ("GET", "/healthz", None, set(CALLERS)),
    ("GET", "/readyz", None, set(CALLERS)),
]
KNOWN_ROLES = {"customer", "operator", "manager"}


def send(client: FlaskClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body)
    return client.open(
        path, method=method, data=data, content_type="application/json", headers=headers
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_each_endpoint_lets_through_only_its_roles(
    client: FlaskClient, method: str, path: str, body: Any, allowed: set[str], caller: str
) -> None:
    response = send(client, method, path, body, CALLERS[caller])

    if caller in allowed:
        assert response.status_code not in {401, 403}, response.get_json()
    else:
        expected = 403 if caller in KNOWN_ROLES else 401
        assert response.status_code == expected, response.get_json()
        assert response.get_json()["fields"] == [
            {"field": "Authorization", "message": response.get_json()["fields"][0]["message"]}
        ]


def test_without_a_token_is_401_with_a_bearer_challenge_naming_the_role(
    client: FlaskClient,
) -> None:
    response = client.post("/orders/o-1/approval", json={"approved": True})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="order-processor"'
    assert response.get_json() == {
        "error": "unauthorized",
        "message": "This needs a manager's token (Authorization: Bearer <token>); none was sent",
        "fields": [{"field": "Authorization", "message": "none was sent"}],
    }


def test_an_unknown_token_is_401_invalid_token(client: FlaskClient) -> None:
    response = client.get("/payments/o-1", headers={"Authorization": "Bearer guess"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="order-processor", error="invalid_token"'
    )
    assert response.get_json()["message"] == (
        "This needs an operator's or a manager's token (Authorization: Bearer <token>); "
        "the token sent is not a known one"
    )


def test_another_roles_token_is_403_naming_both_roles(client: FlaskClient) -> None:
    response = client.put("/inventory/cars", json=RESTOCK, headers=MANAGER)

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="order-processor", error="insufficient_scope"'
    )
    assert response.get_json() == {
        "error": "forbidden",
        "message": "This needs an operator's token (Authorization: Bearer <token>); "
        "the token sent is a manager's",
        "fields": [{"field": "Authorization", "message": "the token sent is a manager's"}],
    }


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(client: FlaskClient, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {TOKENS[Role.OPERATOR]}"}

    assert client.put("/inventory/cars", json=RESTOCK, headers=headers).status_code == 200


@pytest.mark.parametrize("caller", ["none", "customer", "operator", "bad-token"])
@pytest.mark.parametrize(
    "body", [{"approved": True}, b"{not json", json.dumps({"approved": True, "pad": "x" * 20_000})]
)
def test_a_refused_approval_is_decided_before_the_body_or_the_order_and_changes_nothing(
    client: FlaskClient,
    workflow_client: FakeWorkflowClient,
    monkeypatch: pytest.MonkeyPatch,
    caller: str,
    body: Any,
) -> None:
    order_id = client.post("/orders", json={"item": "cars", "quantity": 11}).get_json()["order_id"]
    state = workflow_client.instances[order_id]
    looked_up: list[str] = []

    def get_workflow_state(instance_id: str, **_: Any) -> Any:
        looked_up.append(instance_id)
        return state

    monkeypatch.setattr(workflow_client, "get_workflow_state", get_workflow_state)

    # Malformed (400) and oversize (413) bodies, an order that exists: still 401/403 first.
    response = send(client, "POST", f"/orders/{order_id}/approval", body, CALLERS[caller])

    assert response.status_code == (403 if caller in KNOWN_ROLES else 401)
    assert looked_up == []
    assert workflow_client.events == []


def test_a_refused_approval_of_an_unknown_order_is_401_not_404(client: FlaskClient) -> None:
    assert client.post("/orders/no-such-order/approval", json={"approved": True}).status_code == 401


def test_a_refused_restock_never_reaches_inventory(client: FlaskClient, mesh: DaprMesh) -> None:
    statuses = [
        client.put("/inventory/cars", json=RESTOCK, headers=headers).status_code
        for headers in ({}, CUSTOMER, MANAGER)
    ]
    statuses.append(client.get("/payments/o-1", headers=CUSTOMER).status_code)

    assert statuses == [401, 403, 403, 403]
    assert mesh.requests == []


def test_a_refusal_does_not_wait_for_a_request_slot(app: Flask) -> None:
    """Every slot taken (a burst of other requests): a refusal still answers at once."""
    slots = extension.of(app).request_slots
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    answered: list[int] = []
    thread = threading.Thread(
        target=lambda: answered.append(app.test_client().put("/inventory/cars").status_code)
    )
    try:
        thread.start()
        thread.join(timeout=5)
        assert answered == [401]
    finally:
        for _ in range(taken):
            slots.release()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer leaked-guess-0123456789abcdef0123456789abcdef"},
        CUSTOMER,
        MANAGER,
        OPERATOR,
    ],
    ids=["unknown", "customer", "manager", "operator"],
)
def test_a_token_is_never_logged_nor_echoed(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    headers: dict[str, str],
) -> None:
    token = headers["Authorization"].split()[1]
    with caplog.at_level(logging.DEBUG):
        refused_or_not = client.put("/inventory/cars", json=RESTOCK, headers=headers)
        approval = client.post("/orders/o-1/approval", json={"approved": True}, headers=headers)

    printed = capsys.readouterr()
    assert caplog.records, "the requests were logged"
    for text in (caplog.text, printed.out, printed.err):
        assert token not in text
    for response in (refused_or_not, approval):
        assert token not in response.get_data(as_text=True)
        assert token not in str(response.headers)


def test_every_roles_token_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = RoleTokens({role: SecretStr(TOKENS[role]) for role in Role})
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(given: bytes, expected: bytes) -> bool:
        compared.append(expected)
        return real(given, expected)

    # access.py calls hmac.compare_digest through the module: this counts its every call.
    monkeypatch.setattr(hmac, "compare_digest", counting)

    for role in Role:
        compared.clear()
        assert tokens.role_of(TOKENS[role]) is role
        assert len(compared) == len(Role)
    compared.clear()
    assert tokens.role_of("nobody's") is None
    assert len(compared) == len(Role)


def test_role_tokens_never_show_their_values() -> None:
    tokens = RoleTokens({role: SecretStr(TOKENS[role]) for role in Role})

    assert repr(tokens) == "RoleTokens(customer, operator, manager)"


def test_an_endpoint_missing_from_the_table_stops_the_app_from_being_built() -> None:
    app = create_service_app(__name__, app_settings())
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/extra", "forgotten", lambda: "open?")
    app.register_blueprint(extra)

    with pytest.raises(RuntimeError, match=r"not named \['extra.forgotten'\]"):
        access.init_app(app, RoleTokens({}), lambda _rule: None)
