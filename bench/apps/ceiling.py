"""The runtime ceiling: a workflow of five no-op activities, as many as an order runs.

Run under its own `dapr run` with a SQLite actor store; the bench drives it with the workflow
client (schedule, then wait for completion), so nothing but the runtime is on the path.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Generator
from typing import Any

import dapr.ext.workflow as wf
from dapr.ext.workflow.logger import LoggerOptions

WORKFLOW_NAME = "ceiling_workflow"
# An order for 1 unit without approval runs five activities: verify, notify, pay, take, notify.
ACTIVITIES_PER_WORKFLOW = 5

runtime = wf.WorkflowRuntime(logger_options=LoggerOptions(log_handler=logging.NullHandler()))


@runtime.activity(name="noop_activity")  # type: ignore[untyped-decorator]
def noop_activity(ctx: wf.WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    return payload


@runtime.workflow(name=WORKFLOW_NAME)  # type: ignore[untyped-decorator]
def ceiling_workflow(
    ctx: wf.DaprWorkflowContext, payload: dict[str, Any]
) -> Generator[Any, Any, dict[str, Any]]:
    for step in range(ACTIVITIES_PER_WORKFLOW):
        payload = yield ctx.call_activity(noop_activity, input={**payload, "step": step})
    return payload


def main() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    runtime.start()  # type: ignore[no-untyped-call]  # returns once the stream is ready
    print("ceiling app: workflow worker ready", flush=True)
    stopped.wait()
    runtime.shutdown()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
