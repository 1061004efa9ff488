"""The README's quickstart runs as written: mechanical-markdown executes its STEP blocks
(`make run`, the curl calls, `dapr stop`) and checks their expected output, the seed's
`expected_stdout_lines` among them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.harness import cli_env

REPO = Path(__file__).resolve().parents[2]


def test_readme_quickstart_runs_as_written() -> None:
    mm = shutil.which("mm.py", path=str(Path(sys.executable).parent)) or "mm.py"
    env = cli_env({"PATH": f"{Path.home() / '.dapr' / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    try:
        result = subprocess.run(
            [mm, "README.md"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    finally:
        # The README's last step stops the system; if a step before it failed, stop it here.
        subprocess.run(["dapr", "stop", "-f", "."], cwd=REPO, env=env, check=False)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
