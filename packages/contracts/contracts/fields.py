"""Field types shared by several areas, so a limit is stated once."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
)

# Item names are lowercase keys (cars, paperclip, computers); they appear in URL paths and in
# state-store keys, so only a safe alphabet is accepted; "Cars" is stored as "cars".
ItemName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    ),
]

# Order ids are workflow instance ids (uuid hex or uuid text); same safe alphabet.
OrderId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$"),
]

# Strict ints: "1", 1.0 and true are rejected rather than silently coerced.
OrderQuantity = Annotated[StrictInt, Field(gt=0, le=10_000)]
StockQuantity = Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]
# Whole US dollars, as in the seed (a car costs 5000).
UnitPrice = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
Amount = Annotated[StrictInt, Field(ge=0, le=10_000 * 10_000_000)]


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# A moment in time; a naive one is UTC (the Dapr SDK's workflow clock and state times are).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class StrictModel(BaseModel):
    """A payload that crosses a service boundary: unknown fields are refused, and once parsed
    it does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# For values outside a model (URL path segments, headers), validated the same way.
ITEM_NAME: TypeAdapter[str] = TypeAdapter(ItemName)
ORDER_ID: TypeAdapter[str] = TypeAdapter(OrderId)
