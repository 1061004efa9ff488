"""servicekit.web.create_store_app, as inventory and payment are built with it: only calls
through their own sidecar get in, the probes follow the sidecar, and building the app touches
nothing. Each test runs against both services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import inventory
import inventory.settings
import payment
import payment.settings
from servicekit.settings import StoreSettings
from tests.unit.fakes import FakeStateClient, sidecar_clients

ORDER = {"order_id": "order-1", "item": "cars", "quantity": 1}


@dataclass(frozen=True)
class StoreService:
    create_app: Callable[..., Flask]
    settings: type[StoreSettings]
    # One call of each kind the service answers, token headers given.
    calls: Callable[[FlaskClient, dict[str, str]], list[TestResponse]]


def inventory_calls(client: FlaskClient, headers: dict[str, str]) -> list[TestResponse]:
    return [
        client.get("/inventory", headers=headers),
        client.put("/inventory/cars", json={"quantity": 1, "unit_price": 1}, headers=headers),
        client.post("/reservations", json=ORDER, headers=headers),
    ]


def payment_calls(client: FlaskClient, headers: dict[str, str]) -> list[TestResponse]:
    return [
        client.post("/payments", json={**ORDER, "amount": 5000}, headers=headers),
        client.get("/payments/order-1", headers=headers),
        client.post("/payments/order-1/refund", headers=headers),
    ]


SERVICES = {
    "inventory": StoreService(inventory.create_app, inventory.settings.Settings, inventory_calls),
    "payment": StoreService(payment.create_app, payment.settings.Settings, payment_calls),
}


@pytest.fixture(params=list(SERVICES.values()), ids=list(SERVICES))
def service(request: pytest.FixtureRequest) -> StoreService:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"dapr-api-token": "wrong"}, 401), ({"dapr-api-token": "s3cret"}, 200)],
    ids=["none", "wrong", "right"],
)
def test_app_token_is_required_when_set(
    service: StoreService, state_client: FakeStateClient, headers: dict[str, str], status: int
) -> None:
    settings = service.settings(app_api_token="s3cret")
    client = service.create_app(settings, **sidecar_clients(state_client)).test_client()

    responses = service.calls(client, headers)

    assert [r.status_code for r in responses] == [status] * 3
    if status == 401:
        assert responses[0].get_json()["error"] == "unauthorized"
        assert state_client.writes == 0
    # Kubelet probes the app directly, without the token.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
def test_readiness_follows_the_sidecar(
    service: StoreService, state_client: FakeStateClient, ready: bool, status: int
) -> None:
    app = service.create_app(**sidecar_clients(state_client, ready=ready))
    client = app.test_client()

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == status


def test_app_creation_does_not_touch_the_sidecar(service: StoreService) -> None:
    def explode() -> Any:
        raise AssertionError("state client created at app creation")

    clients = sidecar_clients(None)
    clients["state_client_factory"] = explode

    assert service.create_app(**clients).test_client().get("/healthz").status_code == 200
