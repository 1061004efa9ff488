"""Start real sidecars with the dapr CLI and wait for them on their health endpoints.

The tests run against the real runtime: placement, scheduler and Zipkin come from `make up`;
every sidecar here is a real daprd started by `dapr run`.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

PLACEMENT_ADDRESS = "127.0.0.1:50005"
SCHEDULER_ADDRESS = "127.0.0.1:50006"
ZIPKIN_URL = "http://127.0.0.1:9411"


def _first_ephemeral_port() -> int:
    """Where the kernel's range for the source ports of outgoing connections starts."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Chosen below the ephemeral range: a port from it (what bind(0) hands out) can become the
# source port of any outgoing connection between the moment a test picks it and the moment a
# daprd or gunicorn binds it; `dapr run` then refused one ("Port … is not available").
_PORT_POOL = range(20000, min(_first_ephemeral_port(), 32768))
# One shuffle per process; drawing from it never hands a port out twice.
_candidates = iter(random.Random(os.getpid() ^ time.time_ns()).sample(_PORT_POOL, len(_PORT_POOL)))


def free_port() -> int:
    """A port nothing listens on now, so tests never clash with a running `make run`, outside
    the ephemeral range, and never handed out twice in this process."""
    for port in _candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port left in {_PORT_POOL}")


def wait_until(check: Callable[[], bool], *, deadline_s: float, what: str) -> None:
    """Poll `check` until it holds; fail with `what` once the deadline passes."""
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 300
    except httpx.HTTPError:
        return False


def dapr_cli() -> str:
    found = shutil.which("dapr") or str(Path.home() / ".dapr" / "bin" / "dapr")
    if not Path(found).exists():
        raise RuntimeError("dapr CLI not found: run `make setup` first")
    return found


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # The CLI we can build here predates the scheduler; daprd reads its address from here.
    env.setdefault("DAPR_SCHEDULER_HOST_ADDRESS_DNS_A", SCHEDULER_ADDRESS)
    env.update(extra or {})
    return env


@dataclass
class Sidecar:
    app_id: str
    http_port: int
    grpc_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_released(ports: Sequence[int], *, deadline_s: float = 20.0) -> None:
    """Wait until nothing listens on `ports`: a process still holding one did not stop, and
    would keep the next run from starting."""
    wait_until(
        lambda: not any(listening(port) for port in ports),
        deadline_s=deadline_s,
        what=f"ports {sorted(ports)} released",
    )


def stop(
    process: subprocess.Popen[bytes], *, ports: Sequence[int] = (), grace_s: float = 20.0
) -> None:
    """Stop a process and its process group the way `dapr stop -f` and Ctrl-C do: SIGINT to
    the whole group.

    With `ports`, stopped means those ports are free. The 1.12 CLI itself stays up after its
    apps and sidecars are gone, so it is killed then. A port still held after `grace_s` is a
    process that did not stop; that fails the run, as it would keep the next run from starting.
    """
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        if ports:
            wait_released(ports, deadline_s=grace_s)
        else:
            process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def dapr_run(
    app_id: str,
    *,
    resources_path: Path,
    config_path: Path,
    log_dir: Path,
    app_command: Sequence[str] = (),
    app_port: int | None = None,
    env: dict[str, str] | None = None,
    deadline_s: float = 60.0,
) -> Iterator[Sidecar]:
    """`dapr run` one app with its sidecar; yields once the sidecar reports healthy."""
    http_port, grpc_port = free_port(), free_port()
    args = [
        dapr_cli(), "run",
        "--app-id", app_id,
        "--dapr-http-port", str(http_port),
        "--dapr-grpc-port", str(grpc_port),
        "--metrics-port", str(free_port()),
        "--dapr-internal-grpc-port", str(free_port()),
        "--placement-host-address", PLACEMENT_ADDRESS,
        "--resources-path", str(resources_path),
        "--config", str(config_path),
        "--log-level", "info",
    ]  # fmt: skip
    if app_port is not None:
        args += ["--app-port", str(app_port)]
    if app_command:
        args += ["--", *app_command]
    log_path = log_dir / f"{app_id}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=cli_env(env), start_new_session=True
        )
    sidecar = Sidecar(app_id, http_port, grpc_port, process, log_path)
    try:
        wait_until(
            lambda: process.poll() is None and answers(f"{sidecar.http_url}/v1.0/healthz"),
            deadline_s=deadline_s,
            what=f"sidecar of {app_id} healthy (log: {log_path})",
        )
        yield sidecar
    finally:
        stop(process, ports=[http_port, grpc_port, *([app_port] if app_port else [])])
