"""orderctl.credentials: a role's token from its variable, else from the tokens file, read as
the shell's `set -a && . FILE` reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.roles import Role
from orderctl.credentials import Credentials, MissingTokenError


def test_the_variable_wins_over_the_file(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.env"
    tokens_file.write_text("MANAGER_API_TOKEN=from-file\n")
    environ = {"MANAGER_API_TOKEN": "from-env", "ORDER_API_TOKENS": str(tokens_file)}

    token = Credentials(environ).token(Role.MANAGER)

    assert (token.value, token.source) == ("from-env", "MANAGER_API_TOKEN")
    assert "from-env" not in repr(token)


def test_the_file_is_read_as_the_shell_reads_it(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.env"
    tokens_file.write_text(
        "# made by make run\n"
        "APP_API_TOKEN=abc\n"
        "export OPERATOR_API_TOKEN='quoted'\n"
        'MANAGER_API_TOKEN="double"\n'
        "\n"
        "#CUSTOMER_API_TOKEN=commented-out\n"
    )
    credentials = Credentials({"ORDER_API_TOKENS": str(tokens_file)})

    assert credentials.token(Role.OPERATOR).value == "quoted"
    assert credentials.token(Role.MANAGER).value == "double"
    assert credentials.token(Role.MANAGER).source == f"MANAGER_API_TOKEN in {tokens_file}"
    with pytest.raises(MissingTokenError, match="no CUSTOMER_API_TOKEN in it"):
        credentials.token(Role.CUSTOMER)


def test_the_default_file_is_under_home(tmp_path: Path) -> None:
    credentials = Credentials({"HOME": str(tmp_path)})

    assert credentials.tokens_file() == (
        tmp_path / ".local" / "state" / "dapr-order-processing" / "tokens.env"
    )
    with pytest.raises(MissingTokenError, match="no such file"):
        credentials.token(Role.MANAGER)


def test_an_unreadable_file_says_why(tmp_path: Path) -> None:
    credentials = Credentials({"ORDER_API_TOKENS": str(tmp_path)})  # a folder, not a file

    with pytest.raises(MissingTokenError, match=r"set MANAGER_API_TOKEN, or ORDER_API_TOKENS"):
        credentials.token(Role.MANAGER)
