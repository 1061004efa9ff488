"""Payloads of the manager's board (``/board`` on order-processor): what its page sends and
what the board's event stream tells it."""

from pydantic import Field

from contracts.fields import StrictModel
from contracts.inventory import InventoryItem
from contracts.orders import OrderStatus


class SignIn(StrictModel):
    """Body of ``POST /board/session``: the manager's token, once; the session cookie after."""

    token: str = Field(min_length=1, max_length=1000)


class BoardSession(StrictModel):
    """A signed-in board: the token its page sends with every decision (``X-CSRF-Token``)."""

    csrf_token: str


class BoardState(StrictModel):
    """One event of ``GET /board/events``: every order in progress or recently ended, newest
    first, and the stock; ``trace_search`` is Zipkin's search page, to which the page adds
    an order's tag (``order.id=<id>``)."""

    orders: list[OrderStatus]
    stock: list[InventoryItem]
    trace_search: str
