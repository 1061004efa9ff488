"""A Dapr state store reached through the service's own sidecar (gRPC), with ETag concurrency.

The ``DaprClient`` is created on first use, never at import or app creation: its constructor
waits for the sidecar, and unit tests have none (they inject a fake ``StateClient``).

Transactions can create keys with first-write ("only if the key does not exist yet"). daprd and
the stores honour that option per operation, but the SDK (1.18.3) drops it on the way, so
``DaprStateClient`` builds the transaction request itself.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError

# The SDK's own state types, which dapr 1.18.3 exports from no public module (its docs import
# them from here too; no upstream issue found).
from dapr.clients.grpc._helpers import MetadataTuple
from dapr.clients.grpc._request import TransactionalStateOperation
from dapr.clients.grpc._response import DaprResponse
from dapr.clients.grpc._state import Concurrency, StateOptions
from dapr.proto import api_v1, common_v1
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class StateEntry(Protocol):
    @property
    def data(self) -> bytes: ...

    @property
    def etag(self) -> str: ...


class StateClient(Protocol):
    """The part of ``dapr.clients.DaprClient`` this module uses."""

    def get_state(self, store_name: str, key: str) -> StateEntry: ...

    def save_state(
        self,
        store_name: str,
        key: str,
        value: str,
        etag: str | None = None,
        options: StateOptions | None = None,
    ) -> object: ...

    def execute_state_transaction(
        self, store_name: str, operations: Sequence[TransactionalStateOperation]
    ) -> object: ...

    def close(self) -> None: ...


class ETagConflictError(Exception):
    """Someone else wrote the key since we read it (or it exists on a first write)."""


class ContentionError(Exception):
    """Too many concurrent writers on one key, after every attempt; the caller should retry
    later (the services answer 503)."""


@dataclass(frozen=True)
class Versioned(Generic[M]):
    """A value read with the ETag to write it back with; ``value`` is None for a missing key."""

    value: M | None
    etag: str | None


@dataclass(frozen=True)
class Write:
    """One upsert in a transaction: with ``etag``, only if unchanged since read; with
    ``create``, only if the key does not exist yet (first-write)."""

    key: str
    value: BaseModel
    etag: str | None = None
    create: bool = False


class Upsert(TransactionalStateOperation):
    """The SDK's upsert operation, plus the first-write option the SDK's own cannot carry."""

    def __init__(
        self, key: str, data: str, *, etag: str | None = None, first_write: bool = False
    ) -> None:
        super().__init__(key, data, etag=etag)
        self.first_write = first_write


_FIRST_WRITE = common_v1.StateOptions(concurrency=common_v1.StateOptions.CONCURRENCY_FIRST_WRITE)


def transaction_request(
    store_name: str,
    operations: Sequence[TransactionalStateOperation],
    metadata: dict[str, str] | None = None,
) -> api_v1.ExecuteStateTransactionRequest:
    """The gRPC request the SDK would build, with each ``Upsert``'s first-write kept."""
    return api_v1.ExecuteStateTransactionRequest(
        storeName=store_name,
        metadata=metadata,
        operations=[
            api_v1.TransactionalStateOperation(
                operationType=op.operation_type.value,
                request=common_v1.StateItem(
                    key=op.key,
                    value=op.data.encode() if isinstance(op.data, str) else (op.data or b""),
                    etag=common_v1.Etag(value=op.etag) if op.etag is not None else None,
                    options=_FIRST_WRITE if isinstance(op, Upsert) and op.first_write else None,
                    metadata=op.metadata,
                ),
            )
            for op in operations
        ],
    )


class DaprStateClient(DaprClient):
    """``DaprClient`` whose transactions keep each operation's first-write option."""

    def execute_state_transaction(
        self,
        store_name: str,
        operations: Sequence[TransactionalStateOperation],
        transactional_metadata: dict[str, str] | None = None,
        metadata: MetadataTuple | None = None,
    ) -> DaprResponse:
        """As the SDK's own (its retry policy, its error type); ``metadata`` is deprecated there
        and ignored here."""
        request = transaction_request(store_name, operations, transactional_metadata)
        try:
            # DaprClient._stub stands in for a public execute_state_transaction that keeps each
            # operation's first-write option, which the SDK drops (no upstream issue found).
            _, call = self.retry_policy.run_rpc(  # type: ignore[no-untyped-call]
                self._stub.ExecuteStateTransaction.with_call, request
            )
        except grpc.RpcError as err:
            raise DaprGrpcError(err) from err
        return DaprResponse(headers=call.initial_metadata())


def _is_etag_conflict(err: grpc.RpcError) -> bool:
    # Single saves report a mismatch as ABORTED; transactions as INTERNAL with the store's text.
    code = err.code()
    details = err.details() or ""
    return code == grpc.StatusCode.ABORTED or "etag mismatch" in details.lower()


def dapr_state_client() -> StateClient:
    """The real client; reads DAPR_GRPC_PORT and DAPR_API_TOKEN from the environment itself."""
    client: StateClient = DaprStateClient()
    return client


class StateStore:
    """JSON-encoded pydantic values in one Dapr state store component."""

    def __init__(
        self, store_name: str, client_factory: Callable[[], StateClient] | None = None
    ) -> None:
        self.store_name = store_name
        # Tests pass a fake; services get the sidecar's state API, connected on first use.
        self._client_factory = client_factory or dapr_state_client
        self._client: StateClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> StateClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def get(self, key: str, model: type[M]) -> Versioned[M]:
        entry = self.client.get_state(self.store_name, key)
        if not entry.data:
            return Versioned(None, None)
        return Versioned(model.model_validate_json(entry.data), entry.etag or None)

    def create(self, key: str, value: BaseModel) -> bool:
        """First write wins: False (and nothing written) when the key already exists."""
        try:
            self.client.save_state(
                self.store_name,
                key,
                value.model_dump_json(),
                options=StateOptions(concurrency=Concurrency.first_write),
            )
        except grpc.RpcError as err:
            if _is_etag_conflict(err):
                return False
            raise
        return True

    def put(self, key: str, value: BaseModel, *, etag: str | None = None) -> None:
        """Write ``value``; with ``etag``, only if the key is unchanged since it was read."""
        try:
            self.client.save_state(
                self.store_name,
                key,
                value.model_dump_json(),
                etag=etag,
                options=StateOptions(concurrency=Concurrency.first_write) if etag else None,
            )
        except grpc.RpcError as err:
            if _is_etag_conflict(err):
                raise ETagConflictError(key) from err
            raise

    def transact(self, writes: Sequence[Write]) -> None:
        """Write all or nothing; a stale ETag or an existing ``create`` key fails it all."""
        operations = [
            Upsert(w.key, w.value.model_dump_json(), etag=w.etag, first_write=w.create)
            for w in writes
        ]
        try:
            self.client.execute_state_transaction(self.store_name, operations)
        except grpc.RpcError as err:
            if _is_etag_conflict(err):
                raise ETagConflictError(", ".join(w.key for w in writes)) from err
            raise

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
