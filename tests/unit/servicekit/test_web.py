from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

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


def draining_app() -> Flask:
    """An app with a small body limit and the app token, to refuse a body every way."""
    settings = ServiceSettings(app_api_token="s3cret", max_content_length=1024)
    app = web.create_service_app(__name__, settings)
    web.require_app_token(app, settings.app_api_token)

    @app.post("/things")
    def things() -> dict[str, object]:
        return web.parse_body(OrderRequest).model_dump()

    return app


TOKEN = {"dapr-api-token": "s3cret"}


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        ("/things", TOKEN, b"{" + b" " * 100_000, 413),  # too large: refused before reading
        ("/things", {}, b'{"item": "cars", "quantity": 1}', 401),  # no token: before parsing
        ("/things", TOKEN, b"{not json", 400),
        ("/things", TOKEN, b'{"item": "cars", "quantity": 0}', 422),
        ("/nowhere", TOKEN, b"x" * 5000, 404),
        ("/things", TOKEN, b'{"item": "cars", "quantity": 1}', 200),
    ],
    ids=["413", "401", "400", "422", "404", "200"],
)
def test_every_answer_reads_its_whole_body_first(
    path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    stream = io.BytesIO(body)

    response = draining_app().test_client().post(path, headers=headers, input_stream=stream)

    assert response.status_code == status
    if status >= 400:
        assert set(response.get_json()) >= {"error", "message"}
    assert stream.tell() == len(body)


def test_a_body_beyond_the_drain_limit_is_not_read() -> None:
    """Reading part of it would not spare the client the reset: the server closes after the
    answer whatever it reads."""
    stream = io.BytesIO(b"x" * (web.DRAIN_LIMIT + 1025))

    response = draining_app().test_client().post("/things", headers=TOKEN, input_stream=stream)

    assert response.status_code == 413
    assert stream.tell() == 0


class FakeSocket:
    """What gunicorn puts in ``environ["gunicorn.socket"]``: a blocking socket."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def gettimeout(self) -> float | None:
        return None

    def settimeout(self, value: float | None) -> None:
        self.timeouts.append(value)


def refuse(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("413 REQUEST ENTITY TOO LARGE", [("Content-Type", "application/json")])
    return [b"{}"]


def call(environ: dict[str, Any]) -> list[str]:
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    answer = web.DrainUnreadBody(refuse)(environ, start_response)
    assert list(answer) == [b"{}"]
    return statuses


def test_the_drain_never_reads_past_content_length() -> None:
    """A server that does not end the stream itself may have the next request behind it."""
    stream = io.BytesIO(b"x" * 300 + b"GET /next HTTP/1.1\r\n\r\n")

    call({"wsgi.input": stream, "CONTENT_LENGTH": "300"})

    assert stream.tell() == 300


@pytest.mark.parametrize(("size", "read"), [(5000, 5000), (5 * 1024 * 1024, 4 * 1024 * 1024)])
def test_a_chunked_body_is_read_to_its_end_or_the_limit(size: int, read: int) -> None:
    stream = io.BytesIO(b"x" * size)
    environ = {
        "wsgi.input": stream,
        "wsgi.input_terminated": True,
        "HTTP_TRANSFER_ENCODING": "chunked",
    }

    call(environ)

    assert stream.tell() == read == min(size, web.DRAIN_LIMIT)


def test_a_stream_the_server_does_not_end_is_not_read_without_a_length() -> None:
    stream = io.BytesIO(b"x" * 100)

    call({"wsgi.input": stream, "HTTP_TRANSFER_ENCODING": "chunked"})

    assert stream.tell() == 0


class StallingStream(io.BytesIO):
    """A client that sends part of its body, then nothing: the socket read times out."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= 1000:
            raise TimeoutError("timed out")
        return super().read(min(size or 1000, 1000))


def test_a_stalling_client_ends_the_drain_and_still_gets_its_answer() -> None:
    sock, stream = FakeSocket(), StallingStream(b"x" * 5000)

    statuses = call({"wsgi.input": stream, "CONTENT_LENGTH": "5000", "gunicorn.socket": sock})

    assert statuses == ["413 REQUEST ENTITY TOO LARGE"]
    assert stream.tell() == 1000
    # Each read waits at most until the deadline; the socket is blocking again afterwards.
    waits, restored = sock.timeouts[:-1], sock.timeouts[-1]
    assert waits
    assert all(wait is not None and 0 < wait <= web.DRAIN_DEADLINE_S for wait in waits)
    assert restored is None


def test_a_drain_past_its_deadline_reads_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "DRAIN_DEADLINE_S", 0.0)
    stream = io.BytesIO(b"x" * 5000)

    call({"wsgi.input": stream, "CONTENT_LENGTH": "5000", "gunicorn.socket": FakeSocket()})

    assert stream.tell() == 0
