"""`python -m bench.run`: (a) ours, (b) the runtime ceiling and (c) the seed's design, in one run.

For each system: start it on free ports with fresh SQLite files, place warm-up orders, then
`--orders` orders at each `--concurrency` with a closed loop of async clients, reading every
measured process's CPU time around each phase; RSS of every app and sidecar at the end. For (a),
its start is the cold start, and a last pass at c=8 runs under py-spy. Prints the table, writes
`bench/results/<run id>.json` and, unless `--no-docs`, `docs/perf.png` and the generated part of
`docs/perf.md`. Needs the control plane (`make up`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, profile, report, systems
from bench.load import CeilingWorkflows, HttpOrders, Outcome, Phase, closed_loop
from tests.integration.harness import answers
from tests.integration.system import DAPRD

REPO = systems.REPO
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "perf.md"
PLOT = REPO / "docs" / "perf.png"
PROFILE_CONCURRENCY = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--orders", type=int, default=200, help="orders per concurrency")
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated client counts (default 1,8,32)"
    )
    parser.add_argument("--warmup", type=int, default=16, help="unmeasured orders per system")
    parser.add_argument("--systems", default="a,b,c", help="which of a,b,c to run")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy pass on (a)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the apps of (a) and (c), e.g. GUNICORN_THREADS=16",
    )
    parser.add_argument(
        "--overlay",
        type=Path,
        help="a folder of files replacing the repo's dapr.yaml / components/* for this run",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.35,
        help="start a phase once the machine is at most this busy (0-1) for a second",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=45.0, help="...but wait at most this many seconds"
    )
    parser.add_argument(
        "--client-nice", type=int, default=10, help="niceness of the load generator once started"
    )
    parser.add_argument("--label", default="", help="a note stored in the results")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: print and write the report of a saved run again",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="do not touch docs/perf.md and docs/perf.png"
    )
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.systems = [s.strip() for s in args.systems.split(",")]
    args.env = dict(item.split("=", 1) for item in args.env)
    # Private app ids for this run (see bench.systems): nobody else's daprd shares them.
    args.suffix = f"b{secrets.token_hex(3)}"
    return args


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    daprd = subprocess.run(
        [str(DAPRD), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "daprd": daprd,
        "load_avg_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def driver(target: systems.Target) -> Any:
    """How orders are placed and followed: the workflow client for the ceiling, else HTTP."""
    if target.grpc_port is not None:
        return CeilingWorkflows(target.grpc_port)
    assert target.api_url is not None
    return HttpOrders(target.api_url, systems.ITEM)


def run_phase(
    target: systems.Target, args: argparse.Namespace, *, orders: int, concurrency: int
) -> Phase:
    """One closed-loop phase, with the CPU every measured process spent during it."""

    async def go() -> tuple[float, list[Outcome]]:
        load = driver(target)
        try:
            order: Callable[[int], Awaitable[Outcome]] = load.order
            return await closed_loop(order, orders=orders, concurrency=concurrency)
        finally:
            await load.close()

    groups = procs.labelled(args.suffix)
    cpu_before, busy_before = procs.snapshot_cpu(groups), procs.machine_busy_s()
    wall_s, outcomes = asyncio.run(go())
    cpu_after, busy_after = procs.snapshot_cpu(groups), procs.machine_busy_s()
    return Phase(
        concurrency=concurrency,
        orders=orders,
        wall_s=wall_s,
        outcomes=outcomes,
        cpu_s={name: cpu_after[name] - cpu_before[name] for name in groups},
        machine_busy_s=busy_after - busy_before,
    )


def start(key: str, scratch: Path, layout: systems.Layout, args: argparse.Namespace) -> Any:
    workdir = scratch / key
    workdir.mkdir()
    starters: dict[str, Callable[[], AbstractContextManager[systems.Target]]] = {
        "a": lambda: systems.ours(workdir, layout, args.env, args.suffix),
        "b": lambda: systems.ceiling(workdir, layout, args.suffix),
        "c": lambda: systems.seed(workdir, layout, args.env, args.suffix),
    }
    return starters[key]()


def wait_for_quiet(args: argparse.Namespace) -> dict[str, float]:
    """Wait (bounded) until the machine is quiet: other people's tests run here too, and a
    phase that shares the two cores with them measures them as much as us."""
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    while True:
        before = procs.machine_busy_s()
        time.sleep(1.0)
        busy = (procs.machine_busy_s() - before) / cores
        waited = time.perf_counter() - started
        if busy <= args.quiet_below or waited >= args.quiet_wait:
            return {"busy_before": round(busy, 3), "waited_s": round(waited, 1)}


def measure_all(
    scratch: Path, layout: systems.Layout, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start every system (a first: its start is the cold start), then run each concurrency on
    each system in turn, so that the three figures of one concurrency are taken minutes apart
    at most, under the same conditions on the machine. The figures, and the profiles."""
    figures: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Any] = {}
    with ExitStack() as running:
        targets = {}
        for key in args.systems:
            started = time.perf_counter()
            target = running.enter_context(start(key, scratch, layout, args))
            targets[key] = target
            figures[key] = {
                "name": target.name,
                "startup": {k: round(v, 3) for k, v in target.startup.items()},
                "start_s": round(time.perf_counter() - started, 2),
                "app_ids": target.app_ids,
                "phases": [],
            }
            log(f"{key}: {target.name} up in {figures[key]['start_s']} s ({target.workdir})")
        # From here on the load generator yields to the systems (which keep their priority):
        # on two cores it would otherwise take CPU from what it measures.
        os.nice(args.client_nice)
        for key, target in targets.items():
            if args.warmup:
                warm = run_phase(target, args, orders=args.warmup, concurrency=min(4, args.warmup))
                log(f"{key}: warm-up {warm.ok}/{warm.orders} ok")
        for concurrency in args.concurrency:
            for key, target in targets.items():
                quiet = wait_for_quiet(args)
                phase = run_phase(target, args, orders=args.orders, concurrency=concurrency)
                figures[key]["phases"].append({**phase.summary(), "quiet": quiet})
                log(
                    f"{key}: c={concurrency:<3} {phase.throughput:7.2f} orders/s  "
                    f"p50 {phase.percentile(50):7.1f} ms  p99 {phase.percentile(99):7.1f} ms  "
                    f"failed {phase.failed}  (machine {quiet['busy_before']:.0%} busy before)"
                )
        memory = procs.snapshot_memory(procs.labelled(args.suffix))
        for key, target in targets.items():
            mine = {
                group: found
                for group, found in memory.items()
                if group.rsplit(" ", 1)[0] in target.app_ids
            }
            figures[key]["memory"] = mine
            figures[key]["rss_kb"] = {
                group: found["rss_kb"]
                for group, found in mine.items()
                if group.endswith((" app", " daprd"))
            }
        if not args.no_profile:
            for key, app in (("a", "order-processor"), ("c", systems.SEED_APP_ID)):
                if key in targets:
                    found = profile_pass(targets[key], app, scratch, args)
                    if found:
                        profiles[app] = found
    return figures, profiles


def profile_pass(
    target: systems.Target, app: str, scratch: Path, args: argparse.Namespace
) -> dict[str, Any] | None:
    """An extra, unmeasured pass at c=8 with py-spy on the app's gunicorn worker."""
    pid = procs.gunicorn_worker(target.app_ids[app])
    if pid is None:
        log(f"{target.key}: no gunicorn worker of {app} found; no profile")
        return None
    wait_for_quiet(args)
    recorder = profile.Recorder(pid, scratch / f"{app}.pyspy.txt")
    recorder.wait_attached()
    phase = run_phase(
        target, args, orders=max(args.orders // 2, 50), concurrency=PROFILE_CONCURRENCY
    )
    seconds = recorder.stop()
    summary = profile.summarise(recorder.output, seconds)
    summary["app"] = app
    summary["concurrency"] = PROFILE_CONCURRENCY
    summary["throughput_under_profiler"] = round(phase.throughput, 3)
    summary["raw"] = str(recorder.output)
    log(f"{target.key}: profiled {app}: {summary['samples']} samples over {summary['seconds']} s")
    return summary


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def control_plane_up() -> bool:
    return answers("http://127.0.0.1:58081/healthz") and answers("http://127.0.0.1:58082/healthz")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report_again(args.report, args)
    os.chdir(REPO)  # the apps started by `dapr run` import bench.* from here
    if not control_plane_up():
        print("placement/scheduler not running: run `make up` first", file=sys.stderr)
        return 2
    started_at = datetime.now(UTC)
    run_id = started_at.strftime("%Y%m%dT%H%M%SZ")
    scratch = Path(tempfile.mkdtemp(prefix=f"bench-{run_id}-"))
    layout = systems.layout_with_overlay(args.overlay, scratch)
    results: dict[str, Any] = {
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "machine": machine(),
        "settings": {
            "orders": args.orders,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "following": "long poll",
            "env": args.env,
            "overlay": str(args.overlay) if args.overlay else None,
            "item": systems.ITEM,
            "app_id_suffix": args.suffix,
            "quiet_below": args.quiet_below,
            "client_nice": args.client_nice,
            "quiet_wait_s": args.quiet_wait,
        },
        "systems": {},
        "scratch": str(scratch),
    }
    log(f"run {run_id}: systems {args.systems}, logs under {scratch}")
    results["systems"], results["profiles"] = measure_all(scratch, layout, args)
    results["ratios"] = report.ratios(results)
    results["targets"] = [
        {"target": what, "met": ok, "value": shown} for what, ok, shown in report.targets(results)
    ]
    results["duration_s"] = round((datetime.now(UTC) - started_at).total_seconds(), 1)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{run_id}.json"
    out.write_text(json.dumps(results, indent=1))
    publish(results, out, args)
    return 0


def report_again(path: Path, args: argparse.Namespace) -> int:
    """The report of a saved run, with the profiles folded again if their raw files remain."""
    results = json.loads(path.read_text())
    for found in results.get("profiles", {}).values():
        raw = Path(found.get("raw", ""))
        if raw.is_file():
            found.update(
                {
                    k: v
                    for k, v in profile.summarise(raw, found["seconds"]).items()
                    if k != "seconds"
                }
            )
    results["ratios"] = report.ratios(results)
    results["targets"] = [
        {"target": what, "met": ok, "value": shown} for what, ok, shown in report.targets(results)
    ]
    path.write_text(json.dumps(results, indent=1))
    publish(results, path, args)
    return 0


def publish(results: dict[str, Any], out: Path, args: argparse.Namespace) -> None:
    """Print the table, the targets and the memory; write docs/perf.md and its plot."""
    print()
    print(report.text_table(report.table_rows(results)))
    print()
    for what, ok, shown in report.targets(results):
        print(f"  [{'--' if ok is None else 'ok' if ok else 'XX'}] {what}: {shown}")
    startup = results["systems"].get("a", {}).get("startup")
    if startup:
        print(
            f"  cold start: ready {startup['ready_s']:.1f} s, "
            f"first order {startup['first_order_s']:.1f} s"
        )
    print()
    print(report.text_table(report.rss_rows(results)))
    print(f"\nraw figures: {out} ({results['duration_s']} s)")
    if not args.no_docs:
        report.plot(results, PLOT)
        report.update_doc(DOC, report.generated_section(results, PLOT.name))
        print(f"updated {DOC.relative_to(REPO)} and {PLOT.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
