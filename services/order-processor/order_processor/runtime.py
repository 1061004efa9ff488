"""The process's one workflow runtime, and its lifecycle in a gunicorn worker.

Registration happens here at import; nothing connects until ``start()``, which the
gunicorn ``post_worker_init`` hook calls in the (single) worker process, never at import
and never in the master (gRPC channels do not survive a fork).
"""

import logging
from typing import Protocol

from dapr.ext.workflow import WorkflowRuntime
from dapr.ext.workflow.logger import LoggerOptions

from order_processor import activities
from order_processor.workflow import order_processing_workflow
from servicekit import tracing

# How long start() waits for the work-item stream to the sidecar, through the SDK.
WORKER_READY_TIMEOUT_SECONDS = 60.0
# Sync activities each hold one SDK pool thread while they wait on HTTP.
ACTIVITY_THREADS = 16

logger = logging.getLogger("order_processor.runtime")

wfr = WorkflowRuntime(
    # Records go to the root logger (our format and context), not to a second handler.
    logger_options=LoggerOptions(log_handler=logging.NullHandler()),
    maximum_thread_pool_workers=ACTIVITY_THREADS,
    # The worker's own calls (work-item stream, completions) are no trace of their own.
    interceptors=[tracing.OutsideTracesUntraced()],
    worker_ready_timeout=WORKER_READY_TIMEOUT_SECONDS,
)
wfr.register_workflow(order_processing_workflow)
for _activity in activities.ACTIVITIES:
    wfr.register_activity(_activity)


class Runtime(Protocol):
    """The part of ``WorkflowRuntime`` the worker uses."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def wait_for_worker_ready(self, timeout: float = 30.0) -> bool: ...


class WorkflowWorker:
    """Starts and stops the runtime, and answers whether it is connected (for /readyz)."""

    def __init__(self, clients: activities.ActivityClients, runtime: Runtime | None = None) -> None:
        self._clients = clients
        self._runtime: Runtime = runtime if runtime is not None else wfr
        self._started = False

    def start(self) -> None:
        """Connect and wait (bounded, through the SDK) until work items can arrive."""
        activities.configure(self._clients)
        # Raises when the stream is not ready in time: gunicorn then fails the boot loudly.
        self._runtime.start()
        self._started = True
        logger.info("Workflow worker connected to the sidecar")

    def is_ready(self) -> bool:
        # A short bounded check through the SDK: true at once while the stream is up.
        return self._started and self._runtime.wait_for_worker_ready(timeout=0.1)

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._runtime.shutdown()
            logger.info("Workflow worker stopped")
