"""The workflow runtime and its lifecycle in a gunicorn worker.

Nothing connects, and nothing is registered, until ``start()``, which the gunicorn
``post_worker_init`` hook calls in the (single) worker process, never at import and never in
the master (gRPC channels do not survive a fork).
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

from dapr.ext.workflow import WorkflowRuntime
from dapr.ext.workflow.logger import LoggerOptions

from order_processor import names
from order_processor.activities import OrderActivities
from order_processor.workflow import order_processing_workflow
from servicekit import tracing

# How long start() waits for the work-item stream to the sidecar, through the SDK.
WORKER_READY_TIMEOUT_SECONDS = 60.0
# Sync activities each hold one SDK pool thread while they wait on HTTP.
ACTIVITY_THREADS = 16

logger = logging.getLogger("order_processor.runtime")


class Runtime(Protocol):
    """The part of ``WorkflowRuntime`` the worker uses."""

    def register_workflow(self, fn: Any, *, name: str | None = None) -> None: ...

    def register_activity(self, fn: Any, *, name: str | None = None) -> None: ...

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def wait_for_worker_ready(self, timeout: float = 30.0) -> bool: ...


def workflow_runtime() -> Runtime:
    runtime: Runtime = WorkflowRuntime(
        # Records go to the root logger (our format and context), not to a second handler.
        logger_options=LoggerOptions(log_handler=logging.NullHandler()),
        maximum_thread_pool_workers=ACTIVITY_THREADS,
        # The worker's own calls (work-item stream, completions) are no trace of their own.
        interceptors=[tracing.OutsideTracesUntraced()],
        worker_ready_timeout=WORKER_READY_TIMEOUT_SECONDS,
    )
    return runtime


def registry(activities: OrderActivities) -> dict[str, Callable[..., Any]]:
    """Every activity by the name its orders' histories know it by."""
    return {
        names.NOTIFY: activities.notify,
        names.VERIFY_INVENTORY: activities.verify_inventory,
        names.REQUEST_APPROVAL: activities.request_approval,
        names.PROCESS_PAYMENT: activities.process_payment,
        names.UPDATE_INVENTORY: activities.update_inventory,
        names.RELEASE_INVENTORY: activities.release_inventory,
        names.REFUND_PAYMENT: activities.refund_payment,
    }


def register(runtime: Runtime, activities: OrderActivities) -> None:
    """Register the workflow and the activities' bound methods under their explicit names.

    The SDK marks each registered function as registered, so this runs once per process.
    """
    runtime.register_workflow(order_processing_workflow, name=names.WORKFLOW)
    for name, activity in registry(activities).items():
        runtime.register_activity(activity, name=name)


class WorkflowWorker:
    """Starts and stops the runtime, and answers whether it is connected (for /readyz)."""

    def __init__(
        self,
        activities: OrderActivities,
        runtime_factory: Callable[[], Runtime] = workflow_runtime,
    ) -> None:
        self._activities = activities
        self._runtime_factory = runtime_factory
        self._runtime: Runtime | None = None

    def start(self) -> None:
        """Register, connect and wait (bounded, through the SDK) until work items can arrive."""
        runtime = self._runtime_factory()
        register(runtime, self._activities)
        # Raises when the stream is not ready in time: gunicorn then fails the boot loudly.
        runtime.start()
        self._runtime = runtime
        logger.info("Workflow worker connected to the sidecar")

    def is_ready(self) -> bool:
        # A short bounded check through the SDK: true at once while the stream is up.
        return self._runtime is not None and self._runtime.wait_for_worker_ready(timeout=0.1)

    def stop(self) -> None:
        if self._runtime is not None:
            runtime, self._runtime = self._runtime, None
            runtime.shutdown()
            logger.info("Workflow worker stopped")
