"""The workaround for daprd's torn workflow-state reads (dapr/dapr#10242)."""

from __future__ import annotations

import logging

import grpc
import pytest

from order_processor.following import torn_reads
from tests.unit.fakes import TORN_READ as TORN
from tests.unit.fakes import FakeRpcError


class Reads:
    """A state read that fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: FakeRpcError = TORN) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "state"


def test_a_torn_read_is_read_again() -> None:
    fetch = Reads(failures=2)

    assert torn_reads.read(fetch, (0, 0, 0)) == "state"
    assert fetch.calls == 3


def test_reads_that_stay_torn_give_up_after_the_last_pause() -> None:
    fetch = Reads(failures=10)

    with pytest.raises(grpc.RpcError):
        torn_reads.read(fetch, (0, 0, 0))

    assert fetch.calls == 4  # three pauses, four reads


@pytest.mark.parametrize(
    "error",
    [
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),
        FakeRpcError(grpc.StatusCode.UNKNOWN, "workflow 'abc' metadata history length exceeds"),
    ],
)
def test_other_read_errors_are_not_retried(error: FakeRpcError) -> None:
    fetch = Reads(failures=1, error=error)

    with pytest.raises(grpc.RpcError):
        torn_reads.read(fetch, (0, 0, 0))

    assert fetch.calls == 1


def test_the_sdk_does_not_log_a_retried_torn_read_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    torn_reads.quiet_sdk_log()
    torn_reads.quiet_sdk_log()  # once is enough, twice is harmless
    sdk = logging.getLogger("DaprWorkflowClient")

    with caplog.at_level(logging.INFO):
        sdk.error(f"Unhandled RPC error while fetching workflow state: {TORN.details()}")
        sdk.error("Unhandled RPC error while fetching workflow state: UNAVAILABLE")

    assert [record.getMessage() for record in caplog.records] == [
        "Unhandled RPC error while fetching workflow state: UNAVAILABLE"
    ]
    assert sdk.filters.count(torn_reads._not_a_torn_read) == 1
