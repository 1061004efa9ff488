"""order_processor.settings: the app does not start without each role's token, at least 32
characters and all different, and a refused token never shows in the error it causes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.roles import Role
from order_processor import create_app
from order_processor.settings import Settings

GOOD = {role.token_variable: f"{role}-{'t' * 40}" for role in Role}


@pytest.fixture(autouse=True)
def role_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)


def test_the_role_tokens_come_from_the_environment() -> None:
    tokens = Settings().role_tokens()

    assert {role: token.get_secret_value() for role, token in tokens.items()} == {
        role: GOOD[role.token_variable] for role in Role
    }
    assert GOOD[Role.MANAGER.token_variable] not in repr(Settings())


@pytest.mark.parametrize("role", list(Role))
def test_without_a_roles_token_the_app_does_not_start(
    monkeypatch: pytest.MonkeyPatch, role: Role
) -> None:
    monkeypatch.delenv(role.token_variable)

    with pytest.raises(ValidationError, match=f"{role}_api_token"):
        create_app()


def test_a_short_token_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    short = "short-but-secret-31-characters!"
    assert len(short) == 31
    monkeypatch.setenv("OPERATOR_API_TOKEN", short)

    with pytest.raises(ValidationError, match="operator_api_token") as refused:
        Settings()

    assert "at least 32" in str(refused.value)
    assert short not in str(refused.value)


def test_one_token_for_two_roles_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANAGER_API_TOKEN", GOOD["OPERATOR_API_TOKEN"])

    with pytest.raises(ValidationError, match="must all differ") as refused:
        Settings()

    assert GOOD["OPERATOR_API_TOKEN"] not in str(refused.value)
