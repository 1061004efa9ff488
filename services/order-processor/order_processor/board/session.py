"""The board's sign-in: the manager's token, once, for a session cookie.

The cookie is Flask's signed session, HttpOnly (no script reads it), SameSite=Strict (no other
site's page sends it) and scoped to ``/board``. Its key is derived from the manager's token, so
every replica accepts every replica's sessions, and replacing the token ends them all. A
decision also needs the session's CSRF token in ``X-CSRF-Token`` (the page has it from the
sign-in answer); a request from another origin is refused on its ``Origin`` alone.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session
from pydantic import SecretStr

from contracts.errors import ErrorBody, FieldError
from contracts.roles import Role
from order_processor.access import CSRF_HEADER, SESSION_COOKIE, RoleTokens, Session
from servicekit.web import error_response

KEY = "board_sessions"
LIFETIME = timedelta(hours=8)
_KEY_LABEL = b"order-processor board session"


class BoardSessions:
    """Signs the manager in and out, and judges each board request's session."""

    def __init__(self, tokens: RoleTokens, manager_token: SecretStr) -> None:
        self._tokens = tokens
        self._key = hmac.new(
            manager_token.get_secret_value().encode(), _KEY_LABEL, hashlib.sha256
        ).hexdigest()

    def init_app(self, app: Flask) -> None:
        app.extensions[KEY] = self
        app.secret_key = self._key
        app.config.update(
            SESSION_COOKIE_NAME=SESSION_COOKIE,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Strict",
            SESSION_COOKIE_PATH="/board",
            PERMANENT_SESSION_LIFETIME=LIFETIME,
        )

    def sign_in(self, token: str) -> str | None:
        """The new session's CSRF token, or None when ``token`` is not the manager's."""
        if self._tokens.role_of(token) is not Role.MANAGER:
            return None
        session.clear()
        session.permanent = True
        session["role"] = Role.MANAGER.value
        session["csrf"] = secrets.token_urlsafe(32)
        return str(session["csrf"])

    @staticmethod
    def csrf_token() -> str:
        return str(session["csrf"])

    @staticmethod
    def sign_out() -> None:
        session.clear()

    def refusal(self, rule: Session) -> Response | None:
        """None for a request the board's session allows; else 401 (no session) or 403
        (another origin, or a change without the session's CSRF token)."""
        if not _same_origin():
            return _refused(403, "Origin", "a request from another site")
        if session.get("role") != Role.MANAGER.value:
            return _refused(
                401, SESSION_COOKIE, "no board session: sign in with the manager's token"
            )
        if rule.change:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), str(session.get("csrf", "")).encode()):
                return _refused(403, CSRF_HEADER, "missing or not this session's")
        return None


def current() -> BoardSessions:
    sessions: BoardSessions = current_app.extensions[KEY]
    return sessions


def _same_origin() -> bool:
    """Browsers send ``Origin`` on every cross-site request that could change something."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _refused(status: int, field: str, why: str) -> Response:
    error = "unauthorized" if status == 401 else "forbidden"
    body = ErrorBody(
        error=error,
        message=f"The board refused this: {why}",
        fields=[FieldError(field=field, message=why)],
    )
    return error_response(status, body)
