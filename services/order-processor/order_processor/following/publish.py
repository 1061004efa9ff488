"""The workflow's side of following an order: publishing each step it reaches.

Deterministic: the time of a step is the workflow's own clock (the same on every replay), and
ringing the bell is no I/O and changes no workflow state.
"""

from dapr.ext.workflow import DaprWorkflowContext

from contracts.orders import OrderProgress, Step
from order_processor.following import bell


class Progress:
    """The order's progress so far, published as its workflow's custom status."""

    def __init__(self, ctx: DaprWorkflowContext) -> None:
        self._ctx = ctx
        self._progress = OrderProgress()

    def priced(self, total: int) -> None:
        """Inventory has priced the order: the total shows from its next step on."""
        self._progress = self._progress.priced(total)

    def reach(self, step: Step) -> None:
        self._progress = self._progress.reached(step, self._ctx.current_utc_datetime)
        self._ctx.set_custom_status(self._progress.encode())
        # Wakes this process's waiters for the order (following.watch). Replaying too: daprd
        # hands the first episode its start as history, so the first step is set while
        # "replaying"; a replayed step costs a waiter one more read.
        bell.ring(self._ctx.instance_id)
