"""Flask wiring every service shares: JSON errors, request log context, body parsing, probes.

Bad input always gets a JSON 4xx that names the field, never a 5xx:
malformed JSON 400, failed validation 422, body too large 413, unknown route 404, wrong
method 405. Parsing happens before any state is touched, so rejected input changes nothing.
A dependency that is down is a 503 (worth a retry); one that answers unexpectedly a 502.
Every answer, a refusal above all, first reads what is left of its request's body
(``DrainUnreadBody``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, TypedDict, TypeVar

import grpc
from flask import Blueprint, Flask, Response, current_app, g, request
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from werkzeug.exceptions import HTTPException

from contracts.errors import ErrorBody, FieldError
from servicekit import logs, tracing
from servicekit.invoke import DaprInvoker, ServiceError, TransientError
from servicekit.settings import ServiceSettings, StoreSettings
from servicekit.state import ContentionError, StateClient, StateStore

if TYPE_CHECKING:  # typing.Unpack is Python 3.12's
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
S = TypeVar("S")

STORE_KEY = "servicekit.store"

logger = logging.getLogger("servicekit.web")


class ApiError(Exception):
    """Raised by views and helpers; rendered as ``ErrorBody`` with ``status``."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        fields: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=error, message=message, fields=fields)


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")


def found_response(model: BaseModel | None, missing: str) -> Response:
    """200 ``model``; 404 not_found saying ``missing`` when there is none."""
    if model is None:
        raise ApiError(404, "not_found", missing)
    return json_response(model)


def error_response(status: int, body: ErrorBody) -> Response:
    return Response(
        body.model_dump_json(exclude_none=True), status=status, mimetype="application/json"
    )


def field_errors(err: ValidationError) -> list[FieldError]:
    """Pydantic errors as ``FieldError``s with dotted paths ("body" for the body itself)."""
    return [
        FieldError(
            field=".".join(str(part) for part in detail["loc"]) or "body", message=detail["msg"]
        )
        for detail in err.errors(include_url=False)
    ]


def validation_error(fields: list[FieldError]) -> ApiError:
    names = ", ".join(dict.fromkeys(f.field for f in fields))
    return ApiError(422, "validation_error", f"Invalid request: {names}", fields)


def parse_body(model: type[M]) -> M:
    """Parse the request body as JSON into ``model`` (any content type; JSON is expected).

    Raises ``ApiError`` 400 for malformed JSON, 422 for a body the model rejects and
    413 (through werkzeug) for a body over ``MAX_CONTENT_LENGTH``.
    """
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    # RecursionError: a small body can still nest deeper than the parser goes.
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ApiError(400, "malformed_json", f"Request body is not valid JSON: {err}") from err
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise validation_error(field_errors(err)) from err


def parse_value(adapter: TypeAdapter[T], value: object, *, field: str) -> T:
    """Validate a path parameter or header the same way as a body field."""
    try:
        return adapter.validate_python(value)
    except ValidationError as err:
        raise validation_error(
            [FieldError(field=field, message=e["msg"]) for e in err.errors(include_url=False)]
        ) from err


def _error_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.body)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    response = error_response(status, ErrorBody(error=_error_code(exc), message=message))
    for name, value in exc.get_headers():
        # Keep what werkzeug computed for the route, e.g. the 405's Allow header.
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _handle_contention(exc: ContentionError) -> Response:
    return error_response(503, ErrorBody(error="contention", message=str(exc)))


def _handle_unavailable(exc: Exception) -> Response:
    # The sidecar or a service behind it is down or slow: worth a retry, not a 500.
    logger.warning(
        "Dependency unavailable while serving %s %s: %r", request.method, request.path, exc
    )
    return error_response(
        503,
        ErrorBody(
            error="dependency_unavailable", message="A dependency is unavailable; retry later"
        ),
    )


def _handle_bad_dependency(exc: Exception) -> Response:
    # A service we called answered in a way we did not expect: its fault (or a misconfiguration
    # such as a wrong app token), not ours, and a retry will not fix it.
    logger.error("Dependency failed while serving %s %s: %s", request.method, request.path, exc)
    return error_response(
        502, ErrorBody(error="bad_gateway", message="A dependency answered unexpectedly")
    )


def _handle_unexpected(exc: Exception) -> Response:
    logger.exception("Unhandled error while serving %s %s", request.method, request.path)
    return error_response(
        500, ErrorBody(error="internal_error", message="The server could not handle the request")
    )


def _bind_log_context() -> None:
    """Every log line of a request carries its order id (when the path has one) and trace id."""
    g.servicekit_previous_order_id = logs.current_order_id()
    # Sent only by the order's activities: this request is part of the order's trace.
    from_activity = logs.valid_order_id(request.headers.get(logs.ORDER_ID_HEADER))
    if from_activity:
        tracing.tag_order(from_activity)
    in_path = (request.view_args or {}).get("order_id")
    logs.set_order_id(logs.valid_order_id(in_path if isinstance(in_path, str) else from_activity))


# Polled by kubelet and daprd; logged only at DEBUG.
_PROBES = frozenset({"/healthz", "/readyz", "/dapr/config", "/dapr/subscribe"})


def _log_request(response: Response) -> Response:
    # Our own access log, so the line carries the order id and trace id like every other.
    level = logging.DEBUG if request.path in _PROBES else logging.INFO
    logger.log(level, "%s %s %d", request.method, request.path, response.status_code)
    return response


def _unbind_log_context(_exc: BaseException | None) -> None:
    # Threads are reused across requests: leave no context behind for the next one.
    logs.set_order_id(g.pop("servicekit_previous_order_id", None))


# What an answer reads of its request's unread body at most, and for how long: 4 MiB, past any
# body a client sends by mistake (make e2e sends up to 2 MB through a port-forward).
DRAIN_LIMIT = 4 * 1024 * 1024
DRAIN_DEADLINE_S = 10.0
_DRAIN_STEP = 64 * 1024


class _CountingInput:
    """A request's ``wsgi.input`` that counts what the app reads of it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.consumed = 0

    def _count(self, data: bytes) -> bytes:
        self.consumed += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._count(self._stream.read(-1 if size is None else size))

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(self._stream.readline(-1 if size is None else size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._count(line) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class DrainUnreadBody:
    """WSGI middleware: before an answer goes out, read and discard what the app left unread of
    its request's body, up to ``DRAIN_LIMIT`` bytes within ``DRAIN_DEADLINE_S``.

    Why: a refusal (413, 401, 400, 422, 404...) is answered before the body is read, or without
    reading it. Gunicorn then reads little more of it (64 KiB before it gives up the connection,
    64 KiB as it closes) and closes the socket with the rest still arriving: the kernel resets
    the connection, a client that sends its whole body (no ``Expect: 100-continue``) may lose
    the answer, and a ``kubectl port-forward`` in between gives up the whole forward
    (``write: broken pipe``, issue 21). Read to its end, the body leaves the connection clean:
    the answer arrives whole and the connection stays open.

    Content-Length bounds the read, so it never waits for bytes that are not coming; with no
    length, only a server that ends the stream itself (``wsgi.input_terminated``: gunicorn,
    for chunked bodies) is read, until its end or the limit. A body with more left than the
    limit is not read: the connection closes after the answer, as gunicorn decides. Under
    gunicorn each read waits at most until the deadline (its socket is blocking otherwise); a
    client that stalls or sends a broken chunk just ends the drain, and gunicorn closes that
    connection.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = body
        answer = self.app(environ, start_response)
        # Gunicorn sends the status and headers with the first chunk of the answer: nothing has
        # gone out yet.
        self._drain(environ, body)
        return answer

    @staticmethod
    def _left(environ: WSGIEnvironment, body: _CountingInput) -> int | None:
        """How many bytes of the body are unread (None: unknown, read to the stream's end)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            length = None
        if length is not None:
            return max(length - body.consumed, 0)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        return None if chunked and environ.get("wsgi.input_terminated") else 0

    def _drain(self, environ: WSGIEnvironment, body: _CountingInput) -> None:
        left = self._left(environ, body)
        if left == 0 or (left is not None and left > DRAIN_LIMIT):
            return
        wanted = DRAIN_LIMIT if left is None else left
        sock = environ.get("gunicorn.socket")
        timeout = sock.gettimeout() if sock is not None else None
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        drained = 0
        try:
            while drained < wanted:
                if sock is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    sock.settimeout(remaining)
                data = body.read(min(_DRAIN_STEP, wanted - drained))
                if not data:
                    break
                drained += len(data)
        # A stalled client (timeout), a reset, or a malformed chunk: the answer still goes out,
        # and gunicorn closes the connection.
        except Exception as err:
            logger.debug("Stopped reading the unread request body: %r", err)
        finally:
            if sock is not None:
                # Closed meanwhile: gunicorn finds that out itself.
                with contextlib.suppress(OSError):
                    sock.settimeout(timeout)


def create_service_app(import_name: str, settings: ServiceSettings) -> Flask:
    """The Flask app every service starts from: logging, tracing, JSON errors, log context."""
    logs.configure_logging(settings.log_level)
    tracing.configure_tracing(settings.app_id, settings.zipkin_endpoint)
    # No static files: no app serves any, so none gets Flask's /static route either.
    app = Flask(import_name, static_folder=None)
    app.config["SETTINGS"] = settings
    # First: the request's span must exist before init_app's hooks tag it and log under it.
    tracing.instrument_app(app)
    init_app(app, max_content_length=settings.max_content_length)
    return app


def init_app(app: Flask, *, max_content_length: int) -> None:
    """Attach the shared error handling and request context to ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Outermost: it drains after every handler, hook and span has run, errors included.
    app.wsgi_app = DrainUnreadBody(app.wsgi_app)  # type: ignore[method-assign]
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(ContentionError, _handle_contention)
    app.register_error_handler(TransientError, _handle_unavailable)
    app.register_error_handler(ServiceError, _handle_bad_dependency)
    app.register_error_handler(grpc.RpcError, _handle_unavailable)
    # DaprClient's constructor gives up waiting for its sidecar with a TimeoutError.
    app.register_error_handler(TimeoutError, _handle_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)
    app.before_request(_bind_log_context)
    app.after_request(_log_request)
    app.teardown_request(_unbind_log_context)


# The header daprd puts on every call to its app when APP_API_TOKEN is set.
APP_TOKEN_HEADER = "dapr-api-token"
# Kubelet probes the app directly, without the sidecar and so without the token.
_OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def require_app_token(app: Flask, token: SecretStr | None) -> None:
    """Refuse (401) every request but the probes that does not carry ``token`` in the
    ``dapr-api-token`` header, i.e. that did not come through our own sidecar. No token: open."""
    if token is None:
        return
    expected = token.get_secret_value().encode()

    def check() -> None:
        if request.path in _OPEN_PATHS:
            return
        given = request.headers.get(APP_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(
                401, "unauthorized", f"Missing or wrong {APP_TOKEN_HEADER}; call through Dapr"
            )

    app.before_request(check)


def create_probes_blueprint(is_ready: Callable[[], bool]) -> Blueprint:
    """``/healthz`` answers while the process serves; ``/readyz`` only when ``is_ready()``."""
    probes = Blueprint("probes", __name__)

    @probes.get("/healthz")
    def healthz() -> tuple[dict[str, Any], int]:
        """200 {"status": "ok"} while the process serves requests."""
        return {"status": "ok"}, 200

    @probes.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        """200 {"status": "ready"}; 503 {"status": "not_ready"} until dependencies answer."""
        try:
            with tracing.untraced():
                ready = is_ready()
        except Exception:
            logger.warning("Readiness check raised", exc_info=True)
            ready = False
        if ready:
            return {"status": "ready"}, 200
        return {"status": "not_ready"}, 503

    return probes


class SidecarClients(TypedDict, total=False):
    """How a store app reaches its sidecar, for tests to pass fakes; whatever is not given is
    built from the settings."""

    state_client_factory: Callable[[], StateClient]
    sidecar: DaprInvoker


def create_store_app(
    import_name: str,
    settings: StoreSettings,
    *,
    store: Callable[[StateStore], object],
    blueprints: Sequence[Blueprint],
    **clients: Unpack[SidecarClients],
) -> Flask:
    """The app of a service behind order-processor that keeps its state in one Dapr store:
    only calls through its own sidecar (the app token), its store built on that sidecar's
    state API, its routes, and probes that follow the sidecar. Nothing here talks to Dapr
    (clients connect on first use)."""
    app = create_service_app(import_name, settings)
    require_app_token(app, settings.app_api_token)
    state = StateStore(settings.state_store, clients.get("state_client_factory"))
    app.extensions[STORE_KEY] = store(state)
    sidecar = clients.get("sidecar") or DaprInvoker(settings)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(create_probes_blueprint(sidecar.sidecar_ready))
    return app


def current_store(kind: type[S]) -> S:
    """The app's store, as ``create_store_app`` built it."""
    store = current_app.extensions[STORE_KEY]
    if not isinstance(store, kind):
        raise TypeError(f"the app's store is a {type(store).__name__}, not a {kind.__name__}")
    return store
