"""The JSON error body every service returns for a 4xx or 5xx."""

from contracts.fields import StrictModel


class FieldError(StrictModel):
    """One rejected field: its dotted path and why."""

    field: str
    message: str


class ErrorBody(StrictModel):
    """``error`` is a stable machine code; ``message`` is for people."""

    error: str
    message: str
    fields: list[FieldError] | None = None
