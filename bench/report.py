"""The run's table, its targets, its plot and the generated part of docs/perf.md."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

SYSTEMS = {"a": "ours (3 services)", "b": "runtime ceiling", "c": "seed design (1 process)"}
BEGIN = "<!-- bench:begin (written by `make bench`; edits here are overwritten) -->"
END = "<!-- bench:end -->"
MB = 1024


def _phase(results: dict[str, Any], key: str, concurrency: int) -> dict[str, Any] | None:
    system = results["systems"].get(key)
    if system is None:
        return None
    return next((p for p in system["phases"] if p["concurrency"] == concurrency), None)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    if top is None or bottom is None or not bottom or math.isnan(top) or math.isnan(bottom):
        return None
    return top / bottom


def ratios(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """a/b and a/c of throughput and latency percentiles, per concurrency."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for concurrency in results["settings"]["concurrency"]:
        ours = _phase(results, "a", concurrency)
        per: dict[str, dict[str, float | None]] = {}
        for key in ("b", "c"):
            other = _phase(results, key, concurrency)
            if ours is None or other is None:
                continue
            per[f"a/{key}"] = {
                metric: _ratio(ours[metric], other[metric])
                for metric in ("throughput", "p50_ms", "p95_ms", "p99_ms")
            }
        out[str(concurrency)] = per
    return out


def targets(results: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """Each target of issue 7: what, met (None: not measured in this run), the figure."""
    found: list[tuple[str, bool | None, str]] = []
    rat = results["ratios"]

    def check(what: str, value: float | None, ok: bool | None) -> None:
        shown = "not measured" if value is None else f"{value:.2f}"
        found.append((what, None if value is None else ok, shown))

    for concurrency in (8, 32):
        value = rat.get(str(concurrency), {}).get("a/b", {}).get("throughput")
        check(f"throughput a/b >= 0.75 at c={concurrency}", value, (value or 0) >= 0.75)
    for concurrency in results["settings"]["concurrency"]:
        value = rat.get(str(concurrency), {}).get("a/c", {}).get("throughput")
        check(f"throughput a/c >= 1.0 at c={concurrency}", value, (value or 0) >= 1.0)
    value = rat.get("1", {}).get("a/c", {}).get("p50_ms")
    check("p50 latency a/c <= 1.25 at c=1", value, value is not None and value <= 1.25)
    for name, kb in sorted(results["systems"].get("a", {}).get("rss_kb", {}).items()):
        if name.endswith(" app"):
            check(f"RSS of {name} <= 80 MB (master + workers)", kb / MB, kb / MB <= 80)
    cold = results["systems"].get("a", {}).get("startup", {}).get("first_order_s")
    check("cold start to first completed order <= 10 s", cold, cold is not None and cold <= 10)
    return found


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def table_rows(results: dict[str, Any]) -> list[list[str]]:
    header = ["c", "system", "orders/s", "p50 ms", "p95 ms", "p99 ms", "ok/failed"]
    rows = [header]
    for concurrency in results["settings"]["concurrency"]:
        for key, name in SYSTEMS.items():
            phase = _phase(results, key, concurrency)
            if phase is None:
                continue
            rows.append(
                [
                    str(concurrency),
                    f"{key} {name}",
                    _fmt(phase["throughput"], 2),
                    _fmt(phase["p50_ms"]),
                    _fmt(phase["p95_ms"]),
                    _fmt(phase["p99_ms"]),
                    f"{phase['ok']}/{phase['failed']}",
                ]
            )
        for pair, values in results["ratios"].get(str(concurrency), {}).items():
            rows.append(
                [
                    str(concurrency),
                    pair,
                    _fmt(values["throughput"], 2),
                    _fmt(values["p50_ms"], 2),
                    _fmt(values["p95_ms"], 2),
                    _fmt(values["p99_ms"], 2),
                    "",
                ]
            )
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |"]
    lines.append("| " + " | ".join("---" if i < 2 else "---:" for i in range(len(rows[0]))) + " |")
    for row in rows[1:]:
        bold = "/" in row[1]
        cells = [f"**{c}**" if bold and c and i > 1 else c for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rss_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = [["system", "process", "RSS MB", "PSS MB", "processes (RSS MB each)"]]
    for key, system in results["systems"].items():
        for name, found in sorted(system.get("memory", {}).items()):
            if name.endswith((" app", " daprd")):
                each = sorted(found["processes"].values(), reverse=True)
                rows.append(
                    [
                        f"{key} {SYSTEMS[key]}",
                        name,
                        f"{found['rss_kb'] / MB:.1f}",
                        f"{found['pss_kb'] / MB:.1f}",
                        " + ".join(f"{kb / MB:.0f}" for kb in each),
                    ]
                )
    return rows


def cpu_rows(results: dict[str, Any], concurrency: int) -> list[list[str]]:
    """CPU milliseconds per completed order, by process, at one concurrency."""
    rows = [["system", "process", "CPU ms/order", "share of 2 cores"]]
    for key, system in results["systems"].items():
        phase = next((p for p in system["phases"] if p["concurrency"] == concurrency), None)
        if phase is None or not phase["ok"]:
            continue
        cores = results["machine"]["cpus"]
        own = {name.rsplit(" ", 1)[0] for name in phase["cpu_s"]} & set(system.get("app_ids", {}))
        shared = {"placement", "scheduler", "zipkin", "bench client"}
        measured = {
            name: seconds
            for name, seconds in phase["cpu_s"].items()
            if name in shared or name.rsplit(" ", 1)[0] in own
        }
        for name, seconds in sorted(measured.items(), key=lambda kv: -kv[1]):
            if seconds < 0.01 * phase["wall_s"]:
                continue
            rows.append(
                [
                    f"{key}",
                    name,
                    f"{seconds * 1000 / phase['ok']:.1f}",
                    f"{seconds / (phase['wall_s'] * cores):.0%}",
                ]
            )
        ours = sum(measured.values())
        rows.append(
            [
                f"{key}",
                "**all measured / machine busy**",
                f"**{ours * 1000 / phase['ok']:.1f}**",
                f"**{ours / (phase['wall_s'] * cores):.0%} / "
                f"{phase['machine_busy_s'] / (phase['wall_s'] * cores):.0%}**",
            ]
        )
    return rows


def plain_markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput against concurrency, and the latency CDF at each concurrency."""
    import matplotlib  # noqa: PLC0415 - only the report needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    concurrencies = results["settings"]["concurrency"]
    fig, axes = plt.subplots(1, 1 + len(concurrencies), figsize=(5 + 4 * len(concurrencies), 4))
    colors = {"a": "tab:blue", "b": "tab:gray", "c": "tab:orange"}
    for key, system in results["systems"].items():
        phases = sorted(system["phases"], key=lambda p: p["concurrency"])
        axes[0].plot(
            [p["concurrency"] for p in phases],
            [p["throughput"] for p in phases],
            marker="o",
            color=colors[key],
            label=f"{key} {SYSTEMS[key]}",
        )
        for ax, concurrency in zip(axes[1:], concurrencies, strict=True):
            phase = next((p for p in phases if p["concurrency"] == concurrency), None)
            if phase is None or not phase["latencies_ms"]:
                continue
            values = phase["latencies_ms"]
            ax.step(
                values,
                [(i + 1) / len(values) for i in range(len(values))],
                where="post",
                color=colors[key],
                label=f"{key}",
            )
    axes[0].set_xscale("log", base=2)
    axes[0].set_xticks(concurrencies, [str(c) for c in concurrencies])
    axes[0].set_xlabel("concurrency (clients)")
    axes[0].set_ylabel("completed orders/s")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("Throughput")
    axes[0].legend(fontsize="small")
    axes[0].grid(alpha=0.3)
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter  # noqa: PLC0415

    for ax, concurrency in zip(axes[1:], concurrencies, strict=True):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("end-to-end latency (ms, log)")
        ax.set_ylabel("fraction of orders")
        ax.set_title(f"Latency CDF, c={concurrency}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(f"make bench, {results['started_at']} ({results['machine']['cpus']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _following(settings: dict[str, Any]) -> str:
    """How the clients learned that an order was done: long polls, or (older runs) polls."""
    rate = settings.get("poll_rate_per_s")
    if not rate:
        return "each order followed with long polls (`GET /orders/<id>?wait=30`)"
    return (
        f"polls {rate:.0f} GET/s in all (each client every "
        + ", ".join(f"{1000 * c / rate:.0f} ms at c={c}" for c in settings["concurrency"])
        + ")"
    )


def generated_section(results: dict[str, Any], plot_name: str) -> str:
    settings = results["settings"]
    lines = [
        BEGIN,
        "",
        f"Run `{results['run_id']}` ({results['started_at']}; raw figures "
        f"`bench/results/{results['run_id']}.json`, git-ignored): "
        f"{settings['orders']} orders per concurrency after {settings['warmup']} warm-up orders, "
        + _following(settings)
        + (f", env {settings['env']}" if settings["env"] else "")
        + (f", overlay `{settings['overlay']}`" if settings["overlay"] else "")
        + ".",
        "",
        markdown_table(table_rows(results)),
        "",
        f"![Throughput against concurrency, latency CDFs]({plot_name})",
        "",
        "**Targets**",
        "",
    ]
    for what, ok, shown in targets(results):
        mark = "not measured" if ok is None else ("met" if ok else "**missed**")
        lines.append(f"- {what}: {shown} — {mark}")
    startup = results["systems"].get("a", {}).get("startup", {})
    if startup:
        lines += [
            "",
            f"**Cold start** (`dapr run -f`, runtime built, control plane up): all apps ready "
            f"after {startup['ready_s']:.1f} s, first order completed after "
            f"{startup['first_order_s']:.1f} s.",
        ]
    lines += ["", "**Resident memory at the end of the run**", ""]
    lines.append(plain_markdown_table(rss_rows(results)))
    for concurrency in settings["concurrency"]:
        if concurrency == max(settings["concurrency"]) or concurrency == 8:
            lines += ["", f"**CPU per completed order, c={concurrency}**", ""]
            lines.append(plain_markdown_table(cpu_rows(results, concurrency)))
    for app, found in results.get("profiles", {}).items():
        lines += [
            "",
            f"**Profile of {app}'s gunicorn worker at c={found['concurrency']}** (py-spy --gil, "
            f"{found['rate_hz']} Hz, {found['seconds']} s; the GIL was held "
            f"{found['gil_held']:.0%} of the time; {found['throughput_under_profiler']} orders/s "
            "under the profiler)",
            "",
            "| what the samples were for (overlapping) | share |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {share:.1%} |" for name, share in found["categories"].items()]
        lines += [
            "",
            "| where the GIL time went: package of the innermost non-stdlib frame | share |",
            "| --- | ---: |",
        ]
        lines += [f"| `{row['package']}` | {row['share']:.1%} |" for row in found["packages"]]
        if app != "order-processor":
            continue  # the reference's breakdown is enough to compare; its frames are below
        lines += ["", "| own (leaf) frame | share |", "| --- | ---: |"]
        lines += [f"| `{f['frame']}` | {f['share']:.1%} |" for f in found["top_own"][:12]]
        lines += ["", "| inclusive frame (outside the standard library) | share |"]
        lines += ["| --- | ---: |"]
        lines += [f"| `{f['frame']}` | {f['share']:.1%} |" for f in found["top_inclusive"][:15]]
    lines += ["", END]
    return "\n".join(lines)


def update_doc(doc: Path, section: str) -> None:
    """Replace the generated section of docs/perf.md, keeping everything written by hand."""
    text = doc.read_text() if doc.exists() else "# Performance\n\n" + BEGIN + "\n" + END + "\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    doc.write_text(text)
