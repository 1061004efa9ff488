"""What each process of a run costs: resident memory and CPU time, read from /proc.

Every process the bench starts (the dapr CLI, its daprd, the apps and their gunicorn workers)
is a descendant of the bench itself, so a run's processes are found by walking the tree down
from our pid; they are named by the app id the dapr CLI gives them (`--app-id` for daprd,
`APP_ID` in an app's environment). The control plane from `make up` is found by its pid files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STATE_DIR = Path(
    os.environ.get("DAPR_LOCAL_STATE", Path.home() / ".local/state/dapr-order-processing")
)
CONTROL_PLANE = ("placement", "scheduler", "zipkin")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str
    cmdline: list[str]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _proc(pid: int) -> Proc | None:
    stat = _read(Path(f"/proc/{pid}/stat"))
    raw = Path(f"/proc/{pid}/cmdline")
    if stat is None:
        return None
    try:
        cmdline = raw.read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return None
    # The name is in parentheses and may contain spaces; the fields after it are fixed.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return Proc(pid, ppid, name, cmdline)


def all_procs() -> dict[int, Proc]:
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := _proc(int(entry.name))) is not None:
            procs[proc.pid] = proc
    return procs


def descendants(root: int) -> list[Proc]:
    procs = all_procs()
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(procs[pid])
        todo.extend(children.get(pid, []))
    return found


def _app_id_from_env(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"APP_ID="):
            return entry[len(b"APP_ID=") :].decode()
    return None


def label(proc: Proc) -> str | None:
    """`<app id> daprd` or `<app id> app` for the processes we measure; None for the rest."""
    args = proc.cmdline
    if proc.name == "daprd":
        app_id = args[args.index("--app-id") + 1] if "--app-id" in args else "?"
        return f"{app_id} daprd"
    if proc.name == "dapr":
        # The CLI pipes every app's output to its log: part of what `make run` costs. A run
        # file is ours (a); it is counted under order-processor.
        if "--app-id" in args:
            return f"{args[args.index('--app-id') + 1]} dapr-cli"
        return "order-processor dapr-cli" if "-f" in args else None
    if proc.name in {"sh", "bash", "py-spy"}:
        return None
    from_env = _app_id_from_env(proc.pid)
    return f"{from_env} app" if from_env else None


def control_plane() -> dict[str, int]:
    """Pid of each control-plane process `make up` started (by its pid file)."""
    pids = {}
    for name in CONTROL_PLANE:
        text = _read(STATE_DIR / "run" / f"{name}.pid")
        if text and text.strip().isdigit() and Path(f"/proc/{text.strip()}").exists():
            pids[name] = int(text.strip())
    return pids


def labelled(suffix: str = "") -> dict[str, list[int]]:
    """Every process we measure, by label (app ids without the run's private ``-suffix``); an
    app's gunicorn master and workers together."""
    groups: dict[str, list[int]] = {}
    for proc in descendants(os.getpid()):
        name = label(proc)
        if name is not None:
            name = name.replace(f"-{suffix} ", " ") if suffix else name
            groups.setdefault(name, []).append(proc.pid)
    for name, pid in control_plane().items():
        groups[name] = [pid]
    groups["bench client"] = [os.getpid()]
    return groups


def rss_kb(pid: int) -> int:
    status = _read(Path(f"/proc/{pid}/status")) or ""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: pages shared with other processes (a gunicorn master and its
    forked workers share many) are split between them, so PSS adds up where RSS double-counts."""
    rollup = _read(Path(f"/proc/{pid}/smaps_rollup")) or ""
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU of the process, in seconds (its threads included)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    first = (_read(Path("/proc/stat")) or "cpu 0").splitlines()[0].split()[1:]
    ticks = [int(v) for v in first]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


def snapshot_cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_s(pid) for pid in pids) for name, pids in groups.items()}


def snapshot_rss(groups: dict[str, list[int]]) -> dict[str, int]:
    return {name: sum(rss_kb(pid) for pid in pids) for name, pids in groups.items()}


def snapshot_memory(groups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    """Per group: RSS and PSS summed over its processes, and each process's RSS."""
    return {
        name: {
            "rss_kb": sum(rss_kb(pid) for pid in pids),
            "pss_kb": sum(pss_kb(pid) for pid in pids),
            "processes": {str(pid): rss_kb(pid) for pid in pids},
        }
        for name, pids in groups.items()
    }


def gunicorn_worker(app_id: str) -> int | None:
    """The pid of the app's gunicorn worker (the child of its master), for the profiler."""
    procs = descendants(os.getpid())
    mine = {p.pid for p in procs if label(p) == f"{app_id} app"}
    workers = [p.pid for p in procs if p.pid in mine and p.ppid in mine]
    return workers[0] if workers else None
