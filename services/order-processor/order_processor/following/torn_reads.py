"""A workaround for daprd reading a workflow's state in two calls (dapr/dapr#10242).

daprd 1.18 (up to 1.18.3 at least) reads a workflow's metadata and its inbox separately, so a
read that lands while the workflow saves can fail with UNKNOWN "... declared in metadata ...
but missing from state store". Nothing is wrong on disk and the next read succeeds, so a status
read tries again after short pauses, and the SDK's ERROR line for such a read is dropped.

Remove this module once the runtime carries the upstream fix.
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc

TORN_READ_DETAIL = "missing from state store"
RETRY_DELAYS_S = (0.025, 0.05, 0.1, 0.2)

T = TypeVar("T")

logger = logging.getLogger("order_processor.torn_reads")


def is_torn_read(error: grpc.RpcError) -> bool:
    return error.code() == grpc.StatusCode.UNKNOWN and TORN_READ_DETAIL in (error.details() or "")


def _not_a_torn_read(record: logging.LogRecord) -> bool:
    """The SDK logs each failed state read as an ERROR; a torn one is read again."""
    return TORN_READ_DETAIL not in record.getMessage()


def quiet_sdk_log() -> None:
    """Keep the SDK's workflow client from logging a torn read as an error; safe to repeat."""
    sdk = logging.getLogger("DaprWorkflowClient")
    if _not_a_torn_read not in sdk.filters:
        sdk.addFilter(_not_a_torn_read)


def read(fetch: Callable[[], T], delays_s: Sequence[float] = RETRY_DELAYS_S) -> T:
    """``fetch()``, called again after each pause while it fails with a torn read."""
    for delay_s in delays_s:
        try:
            return fetch()
        except grpc.RpcError as err:
            if not is_torn_read(err):
                raise
            logger.debug("A workflow state read raced a save; reading again")
        time.sleep(delay_s)
    return fetch()
