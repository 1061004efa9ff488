"""What the unit and integration tests hold every rejected request to: the API's JSON error
shape, naming the field to blame."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def raw_body(body: Any) -> bytes | str | None:
    """A test case's body as sent: bytes as they are (malformed on purpose), anything else as
    JSON."""
    return body if isinstance(body, bytes) or body is None else json.dumps(body)


def assert_api_error(status_code: int, payload: Any, *, status: int, field: str | None) -> None:
    """``payload`` is an ``ErrorBody`` answered with ``status`` and, when a field is to blame,
    names it."""
    assert status_code == status, payload
    assert isinstance(payload["error"], str), payload
    assert payload["message"], payload
    if field is not None:
        assert field in {entry["field"] for entry in payload["fields"]}, payload


@dataclass(frozen=True)
class BadRequest:
    """A request an app must refuse before it changes anything: what is sent, the status it
    must answer and the field it must name (None when no one field is to blame)."""

    method: str
    path: str
    body: Any
    status: int
    field: str | None

    @classmethod
    def table(cls, rows: list[tuple[str, str, Any, int, str | None]]) -> list[BadRequest]:
        """Cases from rows of (method, path, body, status, field)."""
        return [cls(*row) for row in rows]

    def __str__(self) -> str:
        return f"{self.method} {self.path[:40]} {self.status}"

    def send(self, client: FlaskClient, headers: dict[str, str] | None = None) -> TestResponse:
        return client.open(
            self.path,
            method=self.method.upper(),
            data=raw_body(self.body),
            content_type="application/json",
            headers=headers,
        )

    def assert_refused(self, response: TestResponse) -> None:
        assert_api_error(
            response.status_code, response.get_json(), status=self.status, field=self.field
        )


# A restock of inventory's item API that inventory refuses, and order-processor refuses at the
# edge before passing it on.
BAD_RESTOCKS = BadRequest.table(
    [
        ("put", "/inventory/cars", b"{", 400, None),
        ("put", "/inventory/cars", {"quantity": 1}, 422, "unit_price"),
        ("put", "/inventory/cars", {"quantity": -1, "unit_price": 1}, 422, "quantity"),
        ("put", "/inventory/cars", {"quantity": "1", "unit_price": 1}, 422, "quantity"),
        ("put", "/inventory/cars", {"quantity": 1, "unit_price": 1.5}, 422, "unit_price"),
        (
            "put",
            "/inventory/cars",
            {"quantity": 1, "unit_price": 1, "reserved": 0},
            422,
            "reserved",
        ),
        ("put", "/inventory/Bad%20Name!", {"quantity": 1, "unit_price": 1}, 422, "item"),
        ("put", f"/inventory/{'x' * 65}", {"quantity": 1, "unit_price": 1}, 422, "item"),
    ]
)
