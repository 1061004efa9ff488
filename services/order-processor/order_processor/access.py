"""Who may call what on the order API: one table, endpoint -> the roles whose bearer token it
needs, read by the check every request passes first and by the OpenAPI document
(``order_processor.openapi``), so a route's roles are written once.

A request to a gated endpoint without a known token (``Authorization: Bearer <token>``) gets
401 with ``WWW-Authenticate: Bearer``; with the token of a role the endpoint does not allow,
403. Both are decided before anything else: before a request slot is taken, the body is read
or an order or item is looked up, so a refused request changes nothing and reveals nothing.
An open endpoint never looks at ``Authorization``. The presented token is compared with every
role's token in constant time, and it is never logged nor echoed.

The manager's board is the one exception to bearer tokens: a browser page cannot keep a token
out of reach of its own scripts, so the manager signs in once and the board's endpoints take
the session cookie instead (``SESSION``; a decision also its CSRF token, ``SESSION_CHANGE``),
checked in the same place and just as early (``order_processor.board.session``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from flask import Flask, Response, request
from pydantic import SecretStr

from contracts.errors import ErrorBody, FieldError
from contracts.roles import Role
from servicekit.web import error_response

AUTHORIZATION = "Authorization"
REALM = "order-processor"

OPEN: frozenset[Role] = frozenset()
MANAGER = frozenset({Role.MANAGER})
OPERATOR = frozenset({Role.OPERATOR})


# Where the board's session travels: its cookie, and the header of its CSRF token.
SESSION_COOKIE = "board_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    """The manager's board session (``SESSION_COOKIE``) instead of a bearer token; ``change``:
    the request also carries the session's CSRF token (``CSRF_HEADER``)."""

    change: bool = False


SESSION = Session()
SESSION_CHANGE = Session(change=True)
Rule = frozenset[Role] | Session

# Every endpoint the app serves, by Flask endpoint name (blueprint.view); the app refuses to
# start if one is missing here or one named here is not served.
ACCESS: Mapping[str, Rule] = MappingProxyType(
    {
        # Customers place and follow orders (long polls too) and look at stock and prices.
        "orders.place_order": OPEN,
        "orders.get_order": OPEN,
        "inventory.list_items": OPEN,
        "inventory.get_item": OPEN,
        # A manager decides an approval; an operator restocks and sets prices.
        "orders.approve_order": MANAGER,
        "inventory.restock_item": OPERATOR,
        # Payments are the business's records, not the customer's: either of the two.
        "payments.get_payment": OPERATOR | MANAGER,
        # The API document, and the probes that kubelet and daprd call without any token.
        "openapi.get_openapi": OPEN,
        "probes.healthz": OPEN,
        "probes.readyz": OPEN,
        # The board: its page and sign-in are open, what it shows and decides takes the session.
        "board.page": OPEN,
        "board.static": OPEN,
        "board.sign_in": OPEN,
        "board.sign_out": OPEN,
        "board.session": SESSION,
        "board.events": SESSION,
        "board.decide": SESSION_CHANGE,
    }
)


def bearer_roles(rule: Rule) -> frozenset[Role]:
    """The roles whose bearer token an endpoint takes (none for the board's session)."""
    return rule if isinstance(rule, frozenset) else OPEN


def ordered(roles: frozenset[Role]) -> list[Role]:
    """``roles`` in the order ``Role`` lists them, for stable messages and documents."""
    return [role for role in Role if role in roles]


class RoleTokens:
    """Each role's token, and which role a presented token is."""

    def __init__(self, tokens: Mapping[Role, SecretStr]) -> None:
        self._tokens = [(role, token.get_secret_value().encode()) for role, token in tokens.items()]

    def __repr__(self) -> str:
        return f"RoleTokens({', '.join(role for role, _ in self._tokens)})"

    def role_of(self, presented: str) -> Role | None:
        """The role whose token ``presented`` is, or None."""
        given = presented.encode()
        found: Role | None = None
        # Every role's token is compared, each in constant time, and the loop never stops
        # early: how long this takes tells nothing of which role matched, if any.
        for role, token in self._tokens:
            if hmac.compare_digest(given, token):
                found = role
        return found


def _bearer(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case), or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _whose(role: Role) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}'s"


def _refusal(status: int, needed: frozenset[Role], why: str, challenge: str) -> Response:
    wanted = " or ".join(_whose(role) for role in ordered(needed))
    error = "unauthorized" if status == 401 else "forbidden"
    message = f"This needs {wanted} token (Authorization: Bearer <token>); {why}"
    body = ErrorBody(
        error=error, message=message, fields=[FieldError(field=AUTHORIZATION, message=why)]
    )
    response = error_response(status, body)
    response.headers["WWW-Authenticate"] = challenge
    return response


def refusal(
    needed: frozenset[Role], authorization: str | None, tokens: RoleTokens
) -> Response | None:
    """None when ``authorization`` carries the token of a role in ``needed`` (or nothing is
    needed); otherwise the 401 or 403 to answer, naming the roles needed."""
    if not needed:
        return None
    presented = _bearer(authorization)
    role = tokens.role_of(presented) if presented is not None else None
    challenge = f'Bearer realm="{REALM}"'
    if presented is None:
        why = "none was sent" if authorization is None else "Authorization is not a bearer token"
        return _refusal(401, needed, why, challenge)
    if role is None:
        why = "the token sent is not a known one"
        return _refusal(401, needed, why, f'{challenge}, error="invalid_token"')
    if role not in needed:
        why = f"the token sent is {_whose(role)}"
        return _refusal(403, needed, why, f'{challenge}, error="insufficient_scope"')
    return None


def init_app(
    app: Flask, tokens: RoleTokens, session_refusal: Callable[[Session], Response | None]
) -> None:
    """Check every request against ``ACCESS`` before its view, and before the hooks added
    after this call (app.py's request slots).

    Call it once every blueprint is registered: an endpoint without an entry in ``ACCESS``
    (or an entry without an endpoint) stops the app from being built, rather than serving it
    open."""
    served = set(app.view_functions)
    undeclared, unknown = sorted(served - ACCESS.keys()), sorted(ACCESS.keys() - served)
    if undeclared or unknown:
        raise RuntimeError(
            f"order_processor.access.ACCESS must name every endpoint the app serves: "
            f"not named {undeclared}, not served {unknown}"
        )

    @app.before_request
    def check_role() -> Response | None:
        # No endpoint: an unknown path or method, answered 404/405 by the routing.
        if request.endpoint is None:
            return None
        rule = ACCESS[request.endpoint]
        if isinstance(rule, Session):
            return session_refusal(rule)
        return refusal(rule, request.headers.get(AUTHORIZATION), tokens)
