"""The README's quickstart runs as written: mechanical-markdown executes its STEP blocks
(`make run`, the curl calls, `dapr stop`) and checks their expected output, the seed's
`expected_stdout_lines` among them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.harness import cli_env, listening

REPO = Path(__file__).resolve().parents[2]


# Inside pytest-timeout's 300 s, so a step that hangs fails with what mechanical-markdown printed.
MM_TIMEOUT_S = 270


def fixed_ports() -> list[int]:
    """The ports of `make run`, from dapr.yaml: this test, unlike the others, uses them."""
    run = yaml.safe_load((REPO / "dapr.yaml").read_text())
    keys = ("appPort", "daprHTTPPort", "daprGRPCPort", "metricsPort")
    return [int(app[key]) for app in run["apps"] for key in keys]


def claimed_by_running_daprds(env: dict[str, str]) -> list[int]:
    """The fixed ports that a daprd on this host was started with. The dapr CLI refuses those
    even when they are free (`portExists` in its pkg/standalone/run.go counts every daprd
    process it sees): a container's daprd in the local cluster's pods counts too."""
    listed = subprocess.run(
        ["dapr", "list", "-o", "json"], env=env, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0 or not listed.stdout.strip().startswith("["):
        return []
    claimed = {
        int(instance[key])
        for instance in json.loads(listed.stdout)
        for key in ("httpPort", "grpcPort", "appPort")
    }
    return sorted(claimed & set(fixed_ports()))


def test_readme_quickstart_runs_as_written() -> None:
    taken = [port for port in fixed_ports() if listening(port)]
    if taken:
        pytest.fail(f"ports {taken} are in use (a `make run` still up?); the README needs them")
    mm = shutil.which("mm.py", path=str(Path(sys.executable).parent)) or "mm.py"
    env = cli_env({"PATH": f"{Path.home() / '.dapr' / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    claimed = claimed_by_running_daprds(env)
    if claimed:
        pytest.fail(
            f"a daprd on this host was started with ports {claimed}, so `dapr run` refuses them "
            "(the local cluster's Dapr pods? `make cluster-down` stops them)"
        )
    try:
        result = subprocess.run(
            [mm, "README.md"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=MM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        # Bytes on a timeout, text=True or not.
        printed = err.stdout.decode(errors="replace") if err.stdout else ""
        pytest.fail(f"README steps still running after {MM_TIMEOUT_S} s:\n{printed[-20000:]}")
    finally:
        # The README's last step stops the system; if a step before it failed, stop it here.
        subprocess.run(["dapr", "stop", "-f", "."], cwd=REPO, env=env, check=False)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
