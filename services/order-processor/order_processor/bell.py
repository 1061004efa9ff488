"""The in-process bell the workflow rings when an order reaches a step, for the long poll.

Apart from ``order_processor.watch`` so that the workflow can ring it without importing the
service (which imports the workflow). Ringing is no I/O and changes no workflow state, so the
workflow stays deterministic; it rings only when not replaying.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StepBell:
    """Per order, the waiters of this process to wake when the order's workflow sets a step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}

    @contextmanager
    def listen(self, order_id: str) -> Iterator[threading.Event]:
        """An event set by every ring for the order while the block runs. Listen before
        reading, so a ring between the read and the wait is not lost."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(order_id, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._waiters.get(order_id)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[order_id]

    def ring(self, order_id: str) -> None:
        """The order's workflow has set a step (not yet saved); cheap when nobody listens."""
        with self._lock:
            waiters = tuple(self._waiters.get(order_id, ()))
        for event in waiters:
            event.set()


# The process's one bell: the workflow (running in this process) rings, the API listens.
BELL = StepBell()


def ring(order_id: str) -> None:
    BELL.ring(order_id)
