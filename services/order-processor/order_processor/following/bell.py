"""The in-process bell the workflow rings when an order reaches a step, for the waits of
``following.watch``: one order's long polls listen for that order, the board for every order.

Ringing is no I/O and changes no workflow state, so the workflow stays deterministic.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StepBell:
    """Per order, the waiters of this process to wake when the order's workflow sets a step.

    A ring also counts for whoever starts listening within ``remember_s`` of it: a ring comes
    before daprd has saved the step, so a client whose request arrives just after the ring
    may still read the old step, and must know to read again soon."""

    def __init__(self, remember_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        # Whoever listens to every order (the board's streams).
        self._everything: set[threading.Event] = set()
        self._remember_s = remember_s
        # order id -> when it was last rung, oldest first (pruned as rings come in).
        self._rung: dict[str, float] = {}

    @contextmanager
    def listen(self, order_id: str) -> Iterator[threading.Event]:
        """An event set by every ring for the order while the block runs (and already set if
        the order was rung just before). Listen before reading, so no ring is lost."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(order_id, set()).add(event)
            rung_at = self._rung.get(order_id)
        if rung_at is not None and time.monotonic() - rung_at < self._remember_s:
            event.set()
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._waiters.get(order_id)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[order_id]

    @contextmanager
    def listen_to_all(self) -> Iterator[threading.Event]:
        """An event set by every ring, for any order, while the block runs."""
        event = threading.Event()
        with self._lock:
            self._everything.add(event)
        try:
            yield event
        finally:
            with self._lock:
                self._everything.discard(event)

    def ring(self, order_id: str) -> None:
        """The order's workflow has set a step (not yet saved); cheap when nobody listens."""
        now = time.monotonic()
        with self._lock:
            self._rung.pop(order_id, None)
            self._rung[order_id] = now
            while self._rung:
                oldest = next(iter(self._rung))
                if now - self._rung[oldest] < self._remember_s:
                    break
                del self._rung[oldest]
            waiters = (*self._waiters.get(order_id, ()), *self._everything)
        for event in waiters:
            event.set()


# The process's one bell: the workflow (running in this process) rings, the API listens.
BELL = StepBell()


def ring(order_id: str) -> None:
    BELL.ring(order_id)
