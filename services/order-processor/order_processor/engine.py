"""The connection to the workflow engine in this app's daprd: one gRPC client, made on first
use, shared by placing orders (``service``) and following them (``following``)."""

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import grpc
from dapr.ext.workflow import DaprWorkflowClient, WorkflowState

# The SDK (1.18.3) does not wrap daprd's ListInstanceIDs; its generated messages do.
from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2 as pb
from dapr.ext.workflow.logger import LoggerOptions

# An instance id no order ever has (order ids are hex): asking for it costs one lookup.
READINESS_PROBE_ID = "readiness-probe"
LIST_PAGE_SIZE = 500


class WorkflowClient(Protocol):
    """The part of ``DaprWorkflowClient`` the app uses (``EngineClient`` adds the listing)."""

    def schedule_new_workflow(
        self, workflow: Any, *, input: Any = None, instance_id: str | None = None
    ) -> str: ...

    def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...

    def wait_for_workflow_completion(
        self, instance_id: str, *, fetch_payloads: bool = True, timeout_in_seconds: int = 0
    ) -> WorkflowState | None: ...

    def raise_workflow_event(
        self, instance_id: str, event_name: str, *, data: Any = None
    ) -> Any: ...

    def list_instance_ids(self) -> Iterator[str]: ...

    def close(self) -> Any: ...


class EngineClient(DaprWorkflowClient):
    """``DaprWorkflowClient`` with the listing of every instance the board needs."""

    def list_instance_ids(self) -> Iterator[str]:
        """Every workflow instance of this app, page by page. daprd (1.18) lists the keys of
        the actor state store, whichever replica asks, so every replica sees every order."""
        stub = self._DaprWorkflowClient__obj._stub  # type: ignore[attr-defined]
        token: str | None = None
        while True:
            request = pb.ListInstanceIDsRequest(pageSize=LIST_PAGE_SIZE)
            if token:
                request.continuationToken = token
            page = stub.ListInstanceIDs(request)
            yield from page.instanceIds
            token = page.continuationToken if page.HasField("continuationToken") else None
            if not token:
                return


def dapr_workflow_client() -> WorkflowClient:
    # Its INFO lines ("Starting new ... instance", "Waiting up to 30s ...", "Instance ...
    # completed.") repeat ours, one to three per order and long poll, each a write to stdout.
    logging.getLogger("durabletask-client").setLevel(logging.WARNING)
    # Records go to the root logger (our format and context), not to a second handler.
    client: WorkflowClient = EngineClient(
        logger_options=LoggerOptions(log_handler=logging.NullHandler())
    )
    return client


class Engine:
    """The client, created on first use: no gRPC channel at import, in the gunicorn master,
    or in tests."""

    def __init__(self, client_factory: Callable[[], WorkflowClient] = dapr_workflow_client):
        self._client_factory = client_factory
        self._client: WorkflowClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> WorkflowClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def answers(self) -> bool:
        """Whether the engine answers this process's client now. After a sidecar restart
        gRPC holds the channel in reconnect backoff for a while, so readiness asks."""
        try:
            self.client.get_workflow_state(READINESS_PROBE_ID, fetch_payloads=False)
        except grpc.RpcError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
