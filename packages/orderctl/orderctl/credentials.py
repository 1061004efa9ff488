"""Where orderctl finds the bearer token of the role a command needs.

A role's token comes from its variable (``MANAGER_API_TOKEN``), else from the tokens file that
``ORDER_API_TOKENS`` names, else from the file ``make run`` makes once per machine
(``~/.local/state/dapr-order-processing/tokens.env``). The file holds ``NAME=value`` lines, as
the shell's ``set -a && . FILE`` reads them. A token is read only when a command needs it, and
it is never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contracts.roles import Role

TOKENS_FILE_VARIABLE = "ORDER_API_TOKENS"
DEFAULT_TOKENS_FILE = Path(".local") / "state" / "dapr-order-processing" / "tokens.env"


class MissingTokenError(Exception):
    """A command needs a role's token, and neither its variable nor the tokens file has it."""

    def __init__(self, role: Role, tokens_file: Path, why: str) -> None:
        super().__init__(
            f"needs the {role}'s token: set {role.token_variable}, or "
            f"{TOKENS_FILE_VARIABLE} to a file that holds it ({tokens_file}: {why})"
        )
        self.role = role


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    # Where it came from, for a refusal's message: "MANAGER_API_TOKEN" or "... in <file>".
    source: str


def _read_tokens_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``export`` and quotes allowed); other lines are skipped."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip().removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep or line.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


class Credentials:
    """The tokens of the environment ``environ`` (default: this process's)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def tokens_file(self) -> Path:
        named = self._environ.get(TOKENS_FILE_VARIABLE)
        if named:
            return Path(named).expanduser()
        return Path(self._environ.get("HOME", str(Path.home()))) / DEFAULT_TOKENS_FILE

    def token(self, role: Role) -> Token:
        """``role``'s token; ``MissingTokenError`` when there is none."""
        value = self._environ.get(role.token_variable)
        if value:
            return Token(value, role.token_variable)
        path = self.tokens_file()
        try:
            value = _read_tokens_file(path).get(role.token_variable)
        except FileNotFoundError as err:
            raise MissingTokenError(role, path, "no such file") from err
        except OSError as err:
            raise MissingTokenError(role, path, err.strerror or type(err).__name__) from err
        if not value:
            raise MissingTokenError(role, path, f"no {role.token_variable} in it")
        return Token(value, f"{role.token_variable} in {path}")
