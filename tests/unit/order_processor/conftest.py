from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

import order_processor
from contracts.roles import Role
from order_processor.settings import Settings
from servicekit.invoke import DaprInvoker
from tests.unit.fakes import FakeWorkflowClient

# Each role's token in the unit tests' apps (the real ones are random, per machine or Secret).
TOKENS: dict[Role, str] = {role: f"{role}-token-{'x' * 32}" for role in Role}


def bearer(role: Role) -> dict[str, str]:
    """The header that carries ``role``'s token."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


MANAGER, OPERATOR, CUSTOMER = bearer(Role.MANAGER), bearer(Role.OPERATOR), bearer(Role.CUSTOMER)


def app_settings(**overrides: Any) -> Settings:
    """order-processor's settings with the tests' role tokens."""
    tokens = {f"{role}_api_token": token for role, token in TOKENS.items()}
    return Settings(**{**tokens, **overrides})


class FakeRuntime:
    def __init__(self, *, ready: bool = True, fail_start: bool = False) -> None:
        self.ready = ready
        self.fail_start = fail_start
        self.started = 0
        self.stopped = 0
        self.workflows: dict[str, Any] = {}
        self.activities: dict[str, Any] = {}

    def register_workflow(self, fn: Any, *, name: str | None = None) -> None:
        assert name is not None, "registered under its explicit name"
        self.workflows[name] = fn

    def register_activity(self, fn: Any, *, name: str | None = None) -> None:
        assert name is not None, "registered under its explicit name"
        self.activities[name] = fn

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("WorkflowRuntime worker and its stream are not ready")
        self.started += 1

    def shutdown(self) -> None:
        self.stopped += 1

    def wait_for_worker_ready(self, timeout: float = 30.0) -> bool:
        return self.ready


@pytest.fixture
def workflow_client() -> FakeWorkflowClient:
    return FakeWorkflowClient()


@pytest.fixture
def fake_runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def app(
    workflow_client: FakeWorkflowClient, fake_runtime: FakeRuntime, invoker: DaprInvoker
) -> Flask:
    return order_processor.create_app(
        app_settings(approval_timeout_seconds=300),
        invoker=invoker,
        workflow_client_factory=lambda: workflow_client,
        runtime_factory=lambda: fake_runtime,
    )
