from __future__ import annotations

import pytest
from flask import Flask
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.orders import OrderRequest
from servicekit import logs, tracing, web
from servicekit.invoke import ServiceError
from servicekit.settings import ServiceSettings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def app() -> Flask:
    app = web.create_service_app(__name__, ServiceSettings(max_content_length=1024))
    seen: dict[str, str | None] = {}
    app.config["SEEN"] = seen

    @app.post("/things/<order_id>")
    def thing(order_id: str) -> dict[str, str]:
        seen["order_id"] = logs.current_order_id()
        seen["trace_id"] = logs.current_trace_id()
        return web.parse_body(OrderRequest).model_dump()

    @app.get("/lookup")
    def lookup() -> dict[str, str | None]:
        return {"order_id": logs.current_order_id()}

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("secret detail")

    @app.get("/bad-dependency")
    def bad_dependency() -> str:
        raise ServiceError("GET inventory/x: HTTP 401 secret detail")

    def not_ready() -> bool:
        raise RuntimeError("cannot tell")

    app.register_blueprint(web.create_probes_blueprint(not_ready))
    return app


def test_request_context_carries_order_and_trace_and_is_cleared(app: Flask) -> None:
    response = app.test_client().post(
        "/things/o-1", json={"item": "cars", "quantity": 1}, headers={"traceparent": TRACEPARENT}
    )

    assert response.status_code == 200
    assert app.config["SEEN"] == {
        "order_id": "o-1",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    assert logs.current_order_id() is None
    assert logs.current_trace_id() is None


def test_only_calls_from_an_order_s_activities_are_tagged_with_the_order(
    app: Flask, finished_spans: InMemorySpanExporter
) -> None:
    client = app.test_client()
    client.get("/lookup", headers={"x-order-id": "o-1"})  # an activity's call: the order's trace
    client.post("/things/o-2", json={"item": "cars", "quantity": 1})  # a user asking about it
    client.post(  # an activity's call about its own order, e.g. committing its reservation
        "/things/o-3", json={"item": "cars", "quantity": 1}, headers={"x-order-id": "o-3"}
    )

    tags = [
        (span.name, (span.attributes or {}).get(tracing.ORDER_ID_ATTRIBUTE))
        for span in finished_spans.get_finished_spans()
    ]
    assert tags == [
        ("GET /lookup", "o-1"),
        ("POST /things/<order_id>", None),
        ("POST /things/<order_id>", "o-3"),
    ]


def test_unexpected_errors_are_a_generic_json_500(app: Flask) -> None:
    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.get_json() == {
        "error": "internal_error",
        "message": "The server could not handle the request",
    }


def test_a_raising_readiness_check_means_not_ready(app: Flask) -> None:
    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "not_ready"}


def test_body_limit_is_the_configured_one(app: Flask) -> None:
    response = app.test_client().post(
        "/things/o-1", data=b"{" + b" " * 2000 + b"}", content_type="application/json"
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("header", "expected"),
    [("order-9", "order-9"), ("bad id!", None), ("x" * 65, None), (None, None)],
)
def test_order_id_comes_from_the_header_when_the_path_has_none(
    app: Flask, header: str | None, expected: str | None
) -> None:
    headers = {"x-order-id": header} if header is not None else {}

    assert app.test_client().get("/lookup", headers=headers).get_json() == {"order_id": expected}


def test_path_order_id_wins_over_the_header(app: Flask) -> None:
    app.test_client().post(
        "/things/o-1", json={"item": "cars", "quantity": 1}, headers={"x-order-id": "other"}
    )
    assert app.config["SEEN"]["order_id"] == "o-1"


def test_a_dependency_answering_unexpectedly_is_a_502_without_its_details(app: Flask) -> None:
    response = app.test_client().get("/bad-dependency")

    assert response.status_code == 502
    assert response.get_json() == {
        "error": "bad_gateway",
        "message": "A dependency answered unexpectedly",
    }


def guarded_app(token: str | None) -> Flask:
    settings = ServiceSettings(app_api_token=token)
    app = web.create_service_app(__name__, settings)
    web.require_app_token(app, settings.app_api_token)

    @app.get("/things")
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    app.register_blueprint(web.create_probes_blueprint(lambda: True))
    return app


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"dapr-api-token": ""}, 401),
        ({"dapr-api-token": "s3cre"}, 401),
        ({"dapr-api-token": "s3cret!"}, 401),
        ({"Authorization": "Bearer s3cret"}, 401),
        ({"dapr-api-token": "s3cret"}, 200),
    ],
)
def test_app_token_guards_every_route(headers: dict[str, str], status: int) -> None:
    client = guarded_app("s3cret").test_client()

    assert client.get("/things", headers=headers).status_code == status
    # Unknown routes too: nothing about the app is told to a caller without the token.
    assert client.get("/nowhere", headers=headers).status_code == (status if status != 200 else 404)


def test_app_token_refusal_is_json_and_probes_stay_open() -> None:
    client = guarded_app("s3cret").test_client()

    refused = client.get("/things")

    assert refused.status_code == 401
    assert refused.get_json()["error"] == "unauthorized"
    assert "s3cret" not in refused.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_without_an_app_token_the_app_is_open() -> None:
    assert guarded_app(None).test_client().get("/things").status_code == 200


def test_app_token_comes_from_app_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "from-env")

    token = ServiceSettings().app_api_token

    assert token is not None
    assert token.get_secret_value() == "from-env"
    assert "from-env" not in repr(ServiceSettings())
