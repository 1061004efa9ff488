"""The JSON error body every service returns for a 4xx or 5xx."""

from pydantic import BaseModel

from contracts.fields import STRICT_MODEL


class FieldError(BaseModel):
    """One rejected field: its dotted path and why."""

    model_config = STRICT_MODEL

    field: str
    message: str


class ErrorBody(BaseModel):
    """``error`` is a stable machine code; ``message`` is for people."""

    model_config = STRICT_MODEL

    error: str
    message: str
    fields: list[FieldError] | None = None
