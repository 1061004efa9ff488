"""kubectl for the end-to-end tests: the local cluster's, found through KUBECONFIG and PATH
(`make e2e` sets both, as `make cluster` prints them)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REGISTRY = "127.0.0.1:5000"
# Where the local cluster keeps its state and its caches (scripts/cluster/lib.sh).
STATE = Path(os.environ.get("DAPR_LOCAL_STATE", Path.home() / ".local/state/dapr-order-processing"))
CACHE = Path(os.environ.get("DAPR_LOCAL_CACHE", Path.home() / ".cache/dapr-order-processing"))
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


def start_python_pod(namespace: str, name: str, dapr_app_id: str | None = None) -> None:
    """A pod that idles with Python in it, for a test to `kubectl exec` into; with a Dapr
    sidecar under ``dapr_app_id``, and like the apps' pods no API token (hence no built-in
    Kubernetes secret store for the sidecar)."""
    annotations = {}
    if dapr_app_id:
        annotations = {
            "dapr.io/enabled": "true",
            "dapr.io/app-id": dapr_app_id,
            "dapr.io/disable-builtin-k8s-secret-store": "true",
        }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"e2e": name}, "annotations": annotations},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": PYTHON_IMAGE, "command": ["sleep", "infinity"]}
            ],
        },
    }
    apply(json.dumps(pod), namespace)
    wait_ready(namespace, f"e2e={name}")


def exec_python(namespace: str, pod: str, code: str, container: str = "app") -> str:
    return kubectl("exec", "-n", namespace, pod, "-c", container, "--", "python3", "-c", code)
