from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import payment
from payment.settings import Settings
from tests.errors import assert_api_error, raw_body
from tests.unit.fakes import FakeStateClient, sidecar_clients

CHARGE = {"order_id": "order-1", "item": "cars", "quantity": 1, "amount": 5000}


@pytest.fixture
def client(payment_app: Flask) -> FlaskClient:
    return payment_app.test_client()


def charge(client: FlaskClient, **changes: Any) -> Any:
    return client.post("/payments", json={**CHARGE, **changes})


def test_payment_under_the_limit_is_approved_and_kept(client: FlaskClient) -> None:
    response = charge(client)

    assert response.status_code == 200
    assert response.get_json() == {
        **CHARGE,
        "status": "approved",
        "decline_reason": None,
        "refunded": False,
    }
    assert client.get("/payments/order-1").get_json() == response.get_json()


@pytest.mark.parametrize(("amount", "status"), [(1_000_000, "approved"), (1_000_001, "declined")])
def test_decline_rule_is_amount_over_the_setting(
    client: FlaskClient, amount: int, status: str
) -> None:
    body = charge(client, amount=amount).get_json()

    assert body["status"] == status
    assert (body["decline_reason"] is None) == (status == "approved")


def test_decline_threshold_comes_from_settings(state_client: FakeStateClient) -> None:
    app = payment.create_app(
        Settings(payment_decline_over=100),
        **sidecar_clients(state_client),
    )

    assert charge(app.test_client(), amount=101).get_json()["status"] == "declined"


def test_repeat_returns_the_first_outcome_and_charges_once(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    first = charge(client)
    writes = state_client.writes

    repeat = charge(client)

    assert repeat.status_code == 200
    assert repeat.get_json() == first.get_json()
    assert state_client.writes == writes


def test_repeat_of_a_declined_payment_stays_declined(client: FlaskClient) -> None:
    first = charge(client, amount=2_000_000)
    assert charge(client, amount=2_000_000).get_json() == first.get_json()


def test_same_order_with_another_amount_is_a_conflict(client: FlaskClient) -> None:
    charge(client)

    response = charge(client, amount=6000)

    assert response.status_code == 409
    assert response.get_json()["error"] == "payment_conflict"
    assert client.get("/payments/order-1").get_json()["amount"] == 5000


def test_concurrent_first_charge_loses_to_the_winner(
    client: FlaskClient, state_client: FakeStateClient
) -> None:
    """Another request for the order writes first: ours must return theirs, not overwrite it."""
    # Decided by another replica (say, one with a lower limit): a different outcome than ours.
    winner = {**CHARGE, "status": "declined", "decline_reason": "other replica", "refunded": False}

    def concurrent_charge() -> None:
        state_client.save_state("paymentstore", "payment:order-1", json.dumps(winner))

    state_client.before_write = concurrent_charge
    response = charge(client)

    assert response.status_code == 200
    assert response.get_json() == winner
    assert len(state_client.keys("paymentstore")) == 1


def test_unknown_payment_is_404(client: FlaskClient) -> None:
    response = client.get("/payments/order-404")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_refund_is_idempotent(client: FlaskClient, state_client: FakeStateClient) -> None:
    charge(client)

    first = client.post("/payments/order-1/refund")
    writes = state_client.writes
    repeat = client.post("/payments/order-1/refund")

    assert first.status_code == 200
    assert first.get_json()["refunded"] is True
    assert first.get_json()["status"] == "approved"
    assert repeat.get_json() == first.get_json()
    assert state_client.writes == writes


def test_refund_of_declined_payment_is_409(client: FlaskClient) -> None:
    charge(client, amount=2_000_000)

    response = client.post("/payments/order-1/refund")

    assert response.status_code == 409
    assert response.get_json()["error"] == "not_refundable"


def test_refund_of_unknown_order_is_404(client: FlaskClient) -> None:
    assert client.post("/payments/order-404/refund").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{", 400, None),
        (b"\xff\xfe", 400, None),
        ({k: v for k, v in CHARGE.items() if k != "amount"}, 422, "amount"),
        ({**CHARGE, "currency": "EUR"}, 422, "currency"),
        ({**CHARGE, "amount": -1}, 422, "amount"),
        ({**CHARGE, "amount": "5000"}, 422, "amount"),
        ({**CHARGE, "amount": 10**15}, 422, "amount"),
        ({**CHARGE, "quantity": 0}, 422, "quantity"),
        ({**CHARGE, "item": ""}, 422, "item"),
        ({**CHARGE, "item": "x" * 65}, 422, "item"),
        ({**CHARGE, "order_id": "has spaces"}, 422, "order_id"),
        ("just a string", 422, "body"),
    ],
)
def test_bad_charge_is_rejected_without_a_charge(
    client: FlaskClient,
    state_client: FakeStateClient,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    response = client.post("/payments", data=raw_body(body), content_type="application/json")

    assert_api_error(response.status_code, response.get_json(), status=status, field=field)
    assert state_client.writes == 0


def test_wrong_method_is_405_json(client: FlaskClient) -> None:
    response = client.delete("/payments")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
