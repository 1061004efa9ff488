"""kubectl for the end-to-end tests: the local cluster's, found through KUBECONFIG and PATH
(`make e2e` sets both, as `make cluster` prints them)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

REGISTRY = "127.0.0.1:5000"
PYTHON_IMAGE = f"{REGISTRY}/local/python:3.11-bookworm"


class KubectlError(RuntimeError):
    pass


def kubectl(*args: str, stdin: str | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        ["kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json"))


def apply(manifest: str, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest)


def wait_ready(namespace: str, selector: str, timeout_s: int = 240) -> None:
    """Blocks until every pod the selector matches is Ready (kubectl waits on the API's watch)."""
    kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "pod", "-l", selector,
        f"--timeout={timeout_s}s", timeout=timeout_s + 10,
    )  # fmt: skip


def exec_python(namespace: str, pod: str, code: str, container: str = "app") -> str:
    return kubectl("exec", "-n", namespace, pod, "-c", container, "--", "python3", "-c", code)
