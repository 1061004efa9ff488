"""The board's endpoints (``order_processor.access`` says which take the session)."""

from collections.abc import Generator, Iterator
from pathlib import Path

from flask import Blueprint, Response, send_from_directory, stream_with_context

from contracts.board import BoardSession, BoardState, SignIn
from order_processor.board import session as sessions
from order_processor.extension import OrderProcessor, current
from order_processor.following.reads import ENDED
from order_processor.following.watch import TooManyWaitingError
from order_processor.routes import decide_approval, too_many_waiting
from servicekit.web import ApiError, json_response, parse_body

STATIC = Path(__file__).parent / "static"
# Ended orders the board shows, newest first, beside every order still in progress.
RECENTLY_ENDED = 50
# The browser's wait before it opens the next stream, when one ends (each lasts a long poll).
RECONNECT_MS = 250
# Nothing from a script, a frame or another site: only this app's own files.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

board_bp = Blueprint("board", __name__, url_prefix="/board")


@board_bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@board_bp.get("")
def page() -> Response:
    """200 the board's page; it signs in and then listens to ``/board/events``."""
    return send_from_directory(STATIC, "board.html")


@board_bp.get("/static/<path:name>")
def static(name: str) -> Response:
    return send_from_directory(STATIC, name)


@board_bp.post("/session")
def sign_in() -> Response:
    """200 BoardSession and the session cookie for the manager's token; 401 for any other."""
    csrf = sessions.current().sign_in(parse_body(SignIn).token)
    if csrf is None:
        raise ApiError(401, "unauthorized", "That is not the manager's token")
    return json_response(BoardSession(csrf_token=csrf))


@board_bp.get("/session")
def session() -> Response:
    """200 BoardSession while signed in (a reloaded page needs its CSRF token again)."""
    return json_response(BoardSession(csrf_token=sessions.current().csrf_token()))


@board_bp.delete("/session")
def sign_out() -> Response:
    sessions.current().sign_out()
    return Response(status=204)


@board_bp.post("/orders/<order_id>/decision")
def decide(order_id: str) -> Response:
    """202 ApprovalAccepted; as ``POST /orders/<id>/approval`` with the session for a token."""
    return json_response(decide_approval(order_id), 202)


@board_bp.get("/events")
def events() -> Response:
    """text/event-stream: the board at once, then each time it changes, for a long poll's
    time; the browser's EventSource opens the next stream by itself."""
    processor = current()
    stream = processor.watch.changes(lambda: board_state(processor))
    # Started here, not in the response: too many waiting is a 503 before any byte streams.
    try:
        first = next(stream)
    except TooManyWaitingError:
        return too_many_waiting()
    return Response(
        stream_with_context(_events(first, stream)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _events(first: BoardState, rest: Generator[BoardState]) -> Iterator[str]:
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        yield _event(first)
        for board in rest:
            yield _event(board)
    finally:
        # A browser gone away ends the wait now, not when the generator is collected.
        rest.close()


def _event(board: BoardState) -> str:
    return f"event: board\ndata: {board.model_dump_json()}\n\n"


def board_state(processor: OrderProcessor) -> BoardState:
    orders = processor.reader.every_order()  # newest first
    ended = [order.order_id for order in orders if order.status in ENDED]
    recent = set(ended[:RECENTLY_ENDED])
    return BoardState(
        orders=[o for o in orders if o.status not in ENDED or o.order_id in recent],
        stock=processor.inventory.list_items().items,
        trace_search=processor.settings.zipkin_search_url,
    )
