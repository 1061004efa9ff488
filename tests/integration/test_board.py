"""The manager's board (tests/board.py) in a real browser on the real system: `dapr run -f`,
every daprd and gunicorn its own process, real placement, scheduler and SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.roles import Role
from tests.board import APPROVAL_TIMEOUT_SECONDS, BoardTests, BoardWorld
from tests.integration.system import running_system


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoardWorld]:
    workdir = tmp_path_factory.mktemp("board")
    env = {"APPROVAL_TIMEOUT_SECONDS": str(APPROVAL_TIMEOUT_SECONDS)}
    with running_system(workdir, env) as plan:
        tokens = {role: plan.tokens[role.token_variable] for role in Role}
        yield BoardWorld(plan.apps["order-processor"].url, tokens, workdir)


class TestBoardLocally(BoardTests):
    pass
