"""The manager's board (tests/board.py) in a real browser on the local cluster, through the
order API's `kubectl port-forward` as a manager opens it: the deployment users apply, mTLS
between the sidecars, PostgreSQL behind the stores, the approval timeout at its default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.board import BoardTests, BoardWorld
from tests.e2e.deployment import Cluster


@pytest.fixture(scope="module")
def world(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> BoardWorld:
    scratch: Path = tmp_path_factory.mktemp("board")
    return BoardWorld(cluster.forwards["order-processor"].url, cluster.tokens, scratch)


class TestBoardOnTheCluster(BoardTests):
    pass
