"""A Dapr state store reached through the service's own sidecar (gRPC), with ETag concurrency.

The ``DaprClient`` is created on first use, never at import or app creation: its constructor
waits for the sidecar, and unit tests have none (they inject a fake ``StateClient``).
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import grpc
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation
from dapr.clients.grpc._state import Concurrency, StateOptions
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


@dataclass(frozen=True)
class Versioned(Generic[M]):
    """A value read with the ETag to write it back with; ``value`` is None for a missing key."""

    value: M | None
    etag: str | None


@dataclass(frozen=True)
class Write:
    """One upsert in a transaction; ``etag`` set means "only if unchanged since read"."""

    key: str
    value: BaseModel
    etag: str | None = None


def _is_etag_conflict(err: grpc.RpcError) -> bool:
    # Single saves report a mismatch as ABORTED; transactions as INTERNAL with the store's text.
    code = err.code()
    details = err.details() or ""
    return code == grpc.StatusCode.ABORTED or "etag mismatch" in details.lower()


def dapr_state_client() -> StateClient:
    """The real client; reads DAPR_GRPC_PORT and DAPR_API_TOKEN from the environment itself."""
    client: StateClient = DaprClient()
    return client


class StateStore:
    """JSON-encoded pydantic values in one Dapr state store component."""

    def __init__(
        self, store_name: str, client_factory: Callable[[], StateClient] = dapr_state_client
    ) -> None:
        self.store_name = store_name
        self._client_factory = client_factory
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
        """Write all or nothing; any stale ETag fails the whole transaction."""
        operations = [
            TransactionalStateOperation(w.key, w.value.model_dump_json(), etag=w.etag)
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
