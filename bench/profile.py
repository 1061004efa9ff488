"""Sample a running Python process with py-spy and summarise where it spends its GIL.

py-spy attaches from outside (no change to the app). With ``--gil`` it records, at each tick,
only the thread that holds the GIL: the Python work of the process, one thread at a time, which
is what bounds a single Python process however many threads it has. (Without it, threads parked
in C calls, such as a thread pool's queue or a blocking gRPC call, count as running.) It writes
collapsed stacks, one ``frame;frame;...;leaf count`` line per distinct stack, folded here into
top frames. Samples per tick is then the share of the time the GIL was held.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.integration.harness import wait_until

RATE_HZ = 100
# What the samples were for: a sample counts for every category a frame of its stack matches
# (so they overlap), as a share of all samples.
CATEGORIES = {
    "order API: GET /orders/<id> (long polls)": r"^get_order \(",
    "order API: POST /orders": r"^place_order \(",
    "gunicorn request threads (all requests)": r"^ThreadWorker\.handle \(",
    "activities (with their calls)": r"^TaskHubGrpcWorker\._execute_activity \(",
    "orchestrator (workflow replay)": r"^TaskHubGrpcWorker\._execute_orchestrator \(",
    "workflow worker's event loop": r"^TaskHubGrpcWorker\.start\.<locals>\.run_loop \(",
}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_SHORTEN = (
    (re.compile(r"^.*/site-packages/"), ""),
    (re.compile(r"^.*/lib/python3\.\d+/"), "<stdlib>/"),
    (re.compile(r"^.*/work/[^/]+/"), ""),
)


class Recorder:
    """``py-spy record`` on one pid until ``stop()``."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self.output = output
        py_spy = Path(sys.executable).parent / "py-spy"
        self.log_path = output.with_suffix(".log")
        self.log = self.log_path.open("wb")
        self.started = time.perf_counter()
        args = [
            str(py_spy), "record", "--pid", str(pid), "--rate", str(RATE_HZ),
            "--gil", "--full-filenames", "--format", "raw", "--output", str(output),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_attached(self, deadline_s: float = 30.0) -> None:
        """Until py-spy says it samples (its first line), so the load starts under the profiler."""
        wait_until(
            lambda: (
                b"Sampling process" in self.log_path.read_bytes() or self.process.poll() is not None
            ),
            deadline_s=deadline_s,
            what=f"py-spy sampling pid {self.pid} (log: {self.log_path})",
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"py-spy exited: {self.log_path.read_text(errors='replace')}")

    def stop(self) -> float:
        """Stop sampling and wait for the file; the seconds it sampled."""
        seconds = time.perf_counter() - self.started
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        return seconds


def _frame(raw: str) -> str:
    match = _FRAME.match(raw.strip())
    if match is None:
        return raw.strip()
    path = match["file"]
    for pattern, replacement in _SHORTEN:
        path = pattern.sub(replacement, path)
    return f"{match['func']} ({path})"


def _package(frames: list[str]) -> str:
    """Where the sample's CPU went: the package of its innermost frame outside the standard
    library (``<stdlib>`` when the whole stack is standard library: threads, asyncio)."""
    for frame in reversed(frames):
        path = frame[frame.rfind("(") + 1 : -1]
        if path.startswith("<stdlib>") or path.startswith("<"):
            continue
        parts = path.split("/")
        # The project's own code: packages/<name>/... and services/<name>/...
        return "/".join(parts[:2]) if parts[0] in {"packages", "services", "bench"} else parts[0]
    return "<stdlib>"


def summarise(raw_file: Path, seconds: float, *, top: int = 15) -> dict[str, Any]:
    """Top frames by own samples (the leaf: what the CPU was doing) and by inclusive samples
    (anywhere on the stack: what it was doing it for), as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    patterns = {name: re.compile(pattern) for name, pattern in CATEGORIES.items()}
    total = 0
    text = raw_file.read_text(errors="replace") if raw_file.exists() else ""
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        unique = set(frames)
        for name in unique:
            # Thread and event-loop plumbing is on nearly every stack; it says nothing.
            if "(<stdlib>/" not in name:
                inclusive[name] += count
        for name, pattern in patterns.items():
            if any(pattern.search(frame) for frame in unique):
                categories[name] += count
        packages[_package(frames)] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": name, "samples": n, "share": round(n / total, 4)}
            for name, n in counter.most_common(top)
        ]

    return {
        "rate_hz": RATE_HZ,
        "seconds": round(seconds, 2),
        "samples": total,
        # GIL-holding samples per tick: the share of the time the process's GIL was held.
        "gil_held": round(total / (RATE_HZ * seconds), 3) if seconds else 0.0,
        "categories": {
            name: round(categories[name] / total, 4) if total else 0.0 for name in CATEGORIES
        },
        "packages": [
            {"package": name, "samples": n, "share": round(n / total, 4)}
            for name, n in packages.most_common(12)
        ],
        "top_own": table(own),
        "top_inclusive": table(inclusive),
    }
