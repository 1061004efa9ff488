from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from dapr.clients.health import DaprHealth
from dapr.proto import api_v1, common_v1
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import empty_pb2  # type: ignore[import-untyped]

from contracts.inventory import InventoryItem
from servicekit.state import (
    DaprStateClient,
    ETagConflictError,
    StateStore,
    Upsert,
    Write,
    transaction_request,
)
from tests.unit.fakes import FakeRpcError, FakeStateClient

CARS = InventoryItem(name="cars", unit_price=5000, quantity=10)


@pytest.fixture
def store(state_client: FakeStateClient) -> StateStore:
    return StateStore("teststore", lambda: state_client)


def test_missing_key_reads_as_none(store: StateStore) -> None:
    assert store.get("nope", InventoryItem).value is None


def test_values_round_trip_with_an_etag(store: StateStore) -> None:
    store.put("cars", CARS)

    read = store.get("cars", InventoryItem)

    assert read.value == CARS
    assert read.etag


def test_create_is_first_write_wins(store: StateStore) -> None:
    assert store.create("cars", CARS) is True
    assert store.create("cars", CARS.model_copy(update={"quantity": 1})) is False
    assert store.get("cars", InventoryItem).value == CARS


def test_put_with_a_stale_etag_conflicts(store: StateStore) -> None:
    store.put("cars", CARS)
    stale = store.get("cars", InventoryItem).etag
    store.put("cars", CARS)

    with pytest.raises(ETagConflictError):
        store.put("cars", CARS, etag=stale)


def test_transaction_is_all_or_nothing(store: StateStore, state_client: FakeStateClient) -> None:
    store.put("cars", CARS)
    stale = store.get("cars", InventoryItem).etag
    store.put("cars", CARS.model_copy(update={"quantity": 9}))

    with pytest.raises(ETagConflictError):
        store.transact([Write("other", CARS), Write("cars", CARS, etag=stale)])

    assert store.get("other", InventoryItem).value is None
    assert store.get("cars", InventoryItem).value.quantity == 9  # type: ignore[union-attr]


def test_other_errors_are_not_conflicts(store: StateStore, state_client: FakeStateClient) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "sidecar down")

    state_client.save_state = down  # type: ignore[method-assign]

    with pytest.raises(grpc.RpcError):
        store.put("cars", CARS)


def test_client_is_created_on_first_use_and_closed_once(state_client: FakeStateClient) -> None:
    created: list[FakeStateClient] = []

    def factory() -> FakeStateClient:
        created.append(state_client)
        return state_client

    store = StateStore("teststore", factory)
    assert created == []

    store.get("a", InventoryItem)
    store.get("b", InventoryItem)
    store.close()

    assert len(created) == 1
    assert state_client.closed is True


def test_a_transaction_can_create_a_key_only_if_it_is_new(store: StateStore) -> None:
    store.put("taken", CARS)

    with pytest.raises(ETagConflictError):
        store.transact([Write("other", CARS), Write("taken", CARS, create=True)])
    store.transact([Write("new", CARS, create=True)])

    assert store.get("other", InventoryItem).value is None
    assert store.get("new", InventoryItem).value == CARS


def test_transaction_request_keeps_first_write_and_etags() -> None:
    request = transaction_request(
        "teststore",
        [Upsert("new", "{}", first_write=True), Upsert("old", "{}", etag="7"), Upsert("x", "1")],
    )

    new, old, plain = request.operations
    assert request.storeName == "teststore"
    assert [op.operationType for op in request.operations] == ["upsert"] * 3
    assert new.request.options.concurrency == common_v1.StateOptions.CONCURRENCY_FIRST_WRITE
    assert not new.request.HasField("etag")
    assert (old.request.etag.value, old.request.HasField("options")) == ("7", False)
    assert (plain.request.key, plain.request.value) == ("x", b"1")


class FakeDaprApi(dapr_pb2_grpc.DaprServicer):
    """daprd's transaction call, as the store answers it."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.conflict = False

    def ExecuteStateTransaction(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.received.append(request)
        if self.conflict:
            context.abort(
                grpc.StatusCode.INTERNAL,
                "error while executing state transaction: possible etag mismatch. "
                "error from state store: ...",
            )
        return empty_pb2.Empty()


@pytest.fixture
def dapr_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeDaprApi, str]]:
    """A real gRPC server in-process, standing in for the sidecar."""
    monkeypatch.setattr(DaprHealth, "wait_for_sidecar", staticmethod(lambda: None))
    api = FakeDaprApi()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    dapr_pb2_grpc.add_DaprServicer_to_server(api, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield api, f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_the_real_client_sends_first_write_over_the_wire(
    dapr_api: tuple[FakeDaprApi, str],
) -> None:
    api, address = dapr_api
    client = DaprStateClient(address=address)
    store = StateStore("teststore", lambda: client)

    store.transact([Write("new", CARS, create=True), Write("old", CARS, etag="3")])
    api.conflict = True
    with pytest.raises(ETagConflictError):
        store.transact([Write("new", CARS, create=True)])
    store.close()

    first = api.received[0]
    assert isinstance(first, api_v1.ExecuteStateTransactionRequest)
    assert [op.request.key for op in first.operations] == ["new", "old"]
    assert [op.request.options.concurrency for op in first.operations] == [
        common_v1.StateOptions.CONCURRENCY_FIRST_WRITE,
        common_v1.StateOptions.CONCURRENCY_UNSPECIFIED,
    ]
    assert first.operations[1].request.etag.value == "3"
