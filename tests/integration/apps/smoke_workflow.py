"""A tiny Dapr app for the platform smoke test: one workflow, two activities.

Run under `dapr run`; it serves workflows until it is told to stop.
"""

from __future__ import annotations

import signal
import threading

import dapr.ext.workflow as wf

runtime = wf.WorkflowRuntime()


@runtime.activity(name="double")
def double(ctx: wf.WorkflowActivityContext, value: int) -> int:
    return value * 2


@runtime.activity(name="describe")
def describe(ctx: wf.WorkflowActivityContext, value: int) -> str:
    return f"doubled to {value} by {ctx.workflow_id}"


@runtime.workflow(name="smoke_workflow")
def smoke_workflow(ctx: wf.DaprWorkflowContext, value: int):  # type: ignore[no-untyped-def]
    doubled = yield ctx.call_activity(double, input=value)
    return (yield ctx.call_activity(describe, input=doubled))


def main() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    runtime.start()  # returns once the worker's stream to the sidecar is ready
    print("smoke app: workflow worker ready", flush=True)
    stopped.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main()
