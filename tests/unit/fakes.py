"""Fakes shared by the unit tests: a Dapr state API, the sidecar's service invocation, and the
workflow client. They keep the real semantics that the code relies on (ETags, first-write,
all-or-nothing transactions, pass-through of status codes)."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import grpc
import httpx

# Public nowhere in dapr 1.18.3, as in servicekit.state.
from dapr.clients.grpc._state import Concurrency
from dapr.ext.workflow import WorkflowStatus

# The SDK's payload encoding, which it does not export; the fakes encode as the runtime does.
from dapr.ext.workflow._durabletask.internal.shared import to_json
from flask import Flask

from servicekit.invoke import DaprInvoker
from servicekit.web import SidecarClients


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


# How daprd 1.18 fails a workflow-state read that races the workflow's save (dapr/dapr#10242).
TORN_READ = FakeRpcError(
    grpc.StatusCode.UNKNOWN,
    "workflow 'abc': inbox key 'inbox-000000' declared in metadata (inboxLength=1) but missing "
    "from state store (transient store read failure or partial save?)",
)


class FakeStateClient:
    """In-memory Dapr state API, per store name, as the Redis and in-memory stores behave.

    Each call is atomic, as in a real store, so threads can race through it."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._etags = itertools.count(1)
        self.writes = 0
        self.conflicts = 0
        # Called before each write; tests use it to simulate a concurrent writer.
        self.before_write: Callable[[], None] | None = None
        self.closed = False
        # Reentrant: a before_write hook may write too.
        self._lock = threading.RLock()

    def get_state(self, store_name: str, key: str) -> SimpleNamespace:
        with self._lock:
            data, etag = self.data.get((store_name, key), (b"", ""))
        return SimpleNamespace(data=data, etag=etag)

    def _check(self, store_name: str, key: str, etag: str | None, first_write: bool) -> bool:
        current = self.data.get((store_name, key))
        if etag:
            return current is not None and current[1] == etag
        return not (first_write and current is not None)

    def _write(self, store_name: str, key: str, value: str | bytes) -> None:
        raw = value.encode() if isinstance(value, str) else value
        self.data[(store_name, key)] = (raw, str(next(self._etags)))
        self.writes += 1

    def _hook(self) -> None:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook()

    def save_state(
        self,
        store_name: str,
        key: str,
        value: str | bytes,
        etag: str | None = None,
        options: Any = None,
    ) -> None:
        self._hook()
        first_write = options is not None and options.concurrency == Concurrency.first_write
        with self._lock:
            if not self._check(store_name, key, etag, first_write):
                self.conflicts += 1
                raise FakeRpcError(grpc.StatusCode.ABORTED, "possible etag mismatch")
            self._write(store_name, key, value)

    def execute_state_transaction(self, store_name: str, operations: Sequence[Any]) -> None:
        self._hook()
        with self._lock:
            for op in operations:
                # servicekit.state.Upsert carries first-write, which daprd passes to the store.
                first_write = getattr(op, "first_write", False)
                if not self._check(store_name, op.key, op.etag, first_write):
                    self.conflicts += 1
                    raise FakeRpcError(
                        grpc.StatusCode.INTERNAL,
                        "error while executing state transaction: possible etag mismatch. "
                        "error from state store",
                    )
            for op in operations:
                self._write(store_name, op.key, op.data)

    def keys(self, store_name: str) -> set[str]:
        return {key for store, key in self.data if store == store_name}

    def close(self) -> None:
        self.closed = True


class FakeSidecar:
    def __init__(self, ready: bool = True) -> None:
        self.ready = ready

    def sidecar_ready(self) -> bool:
        return self.ready

    def close(self) -> None:
        pass


def sidecar_clients(state_client: Any, *, ready: bool = True) -> SidecarClients:
    """What a store app's ``create_app`` takes in place of its sidecar: the fake state API,
    and a sidecar whose readiness the test chooses."""
    return {
        "state_client_factory": lambda: state_client,
        "sidecar": cast(DaprInvoker, FakeSidecar(ready=ready)),
    }


_INVOKE = re.compile(r"^/v1\.0/invoke/(?P<app_id>[^/]+)/method/(?P<path>.*)$")


@dataclass
class DaprMesh:
    """Service invocation through a fake sidecar: routes to in-process Flask apps."""

    apps: dict[str, Flask] = field(default_factory=dict)
    # app_id -> the APP_API_TOKEN its sidecar sends it, as daprd does.
    app_tokens: dict[str, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    # The apps' answers, in order, as the caller's sidecar (and its circuit breaker) sees them.
    responses: list[httpx.Response] = field(default_factory=list)
    # app_id -> callable returning a canned response or raising, instead of the app.
    overrides: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        match = _INVOKE.match(request.url.path)
        if match is None:
            return httpx.Response(404, json={"errorCode": "ERR_NOT_FOUND"})
        app_id, path = match["app_id"], match["path"]
        if app_id in self.overrides:
            return self.overrides[app_id](request)
        app = self.apps.get(app_id)
        if app is None:
            return httpx.Response(500, json={"errorCode": "ERR_DIRECT_INVOKE"})
        # Dapr passes the caller's headers through, less its own and hop-by-hop ones.
        dropped = {"host", "content-length", "dapr-api-token", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
        if app_id in self.app_tokens:
            headers["dapr-api-token"] = self.app_tokens[app_id]
        response = app.test_client().open(
            "/" + path,
            method=request.method,
            query_string=request.url.query.decode(),  # Dapr passes the query string on
            data=request.content,
            headers=headers,
        )
        answer = httpx.Response(
            response.status_code,
            content=response.get_data(),
            headers={"content-type": response.content_type or "application/json"},
        )
        self.responses.append(answer)
        return answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


# Canned answers for DaprMesh.overrides: the ways a service behind Dapr can fail a call.


def answers_busy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": "contention", "message": "busy"})


def refuses_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def answers_unauthorized(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, json={"error": "unauthorized", "message": "no"})


def answers_garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>")


@dataclass
class FakeWorkflowState:
    instance_id: str
    runtime_status: WorkflowStatus
    serialized_input: str | None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    created_at: datetime | None = None


class FakeWorkflowClient:
    """The Dapr workflow client's contract as the order service uses it."""

    def __init__(self) -> None:
        self.instances: dict[str, FakeWorkflowState] = {}
        self.scheduled: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, Any]] = []
        self.closed = False

    def schedule_new_workflow(
        self, workflow: Any, *, input: Any = None, instance_id: str | None = None
    ) -> str:
        assert instance_id is not None
        existing = self.instances.get(instance_id)
        if existing is not None and existing.runtime_status in {
            WorkflowStatus.PENDING,
            WorkflowStatus.RUNNING,
        }:
            raise FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, "an active workflow already exists")
        self.instances[instance_id] = FakeWorkflowState(
            instance_id, WorkflowStatus.PENDING, to_json(input)
        )
        self.scheduled.append((workflow, instance_id))
        return instance_id

    def get_workflow_state(self, instance_id: str, *, fetch_payloads: bool = True) -> Any:
        return self.instances.get(instance_id)

    def wait_for_workflow_completion(
        self, instance_id: str, *, fetch_payloads: bool = True, timeout_in_seconds: int = 0
    ) -> Any:
        state = self.instances.get(instance_id)
        if state is not None:
            state.runtime_status = WorkflowStatus.COMPLETED
        return state

    def list_instance_ids(self) -> Iterator[str]:
        return iter(list(self.instances))

    def raise_workflow_event(self, instance_id: str, event_name: str, *, data: Any = None) -> None:
        self.events.append((instance_id, event_name, to_json(data)))

    def close(self) -> None:
        self.closed = True
