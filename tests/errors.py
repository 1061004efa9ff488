"""What the unit and integration tests hold every rejected request to: the API's JSON error
shape, naming the field to blame."""

from __future__ import annotations

import json
from typing import Any


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
