"""The local cluster can run Dapr apps: sidecars are injected, get their identities from Sentry
(mTLS), and service invocation admits exactly the app ids the callee's access control allows."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from tests.e2e.kube import PYTHON_IMAGE, apply, exec_python, kubectl, kubectl_json, wait_ready

SERVER = """
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from smoke-server"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("", 8000), Hello).serve_forever()
"""

# A caller that prints the status and body its own sidecar answers for an invocation of the
# server's `hello` method.
INVOKE = """
import json, urllib.error, urllib.request
url = "http://localhost:3500/v1.0/invoke/smoke-server.{namespace}/method/hello"
try:
    with urllib.request.urlopen(url, timeout=30) as answer:
        print(json.dumps({{"status": answer.status, "body": answer.read().decode()}}))
except urllib.error.HTTPError as err:
    print(json.dumps({{"status": err.code, "body": err.read().decode()}}))
"""


def pod(app_id: str, command: list[str], config: str | None = None, port: int | None = None) -> str:
    annotations = {"dapr.io/enabled": "true", "dapr.io/app-id": app_id}
    if config:
        annotations["dapr.io/config"] = config
    if port:
        annotations["dapr.io/app-port"] = str(port)
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": app_id, "labels": {"smoke": "dapr"}, "annotations": annotations},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": PYTHON_IMAGE, "command": command}],
            },
        }
    )


def server_config(namespace: str) -> str:
    """Only smoke-client may call the server; every other app id is refused."""
    return json.dumps(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Configuration",
            "metadata": {"name": "smoke-server"},
            "spec": {
                "accessControl": {
                    "defaultAction": "deny",
                    "trustDomain": "public",
                    "policies": [
                        {
                            "appId": "smoke-client",
                            "defaultAction": "allow",
                            "trustDomain": "public",
                            "namespace": namespace,
                        }
                    ],
                }
            },
        }
    )


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"dapr-smoke-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        apply(server_config(name), name)
        apply(pod("smoke-server", ["python3", "-c", SERVER], "smoke-server", 8000), name)
        for caller in ("smoke-client", "smoke-intruder"):
            apply(pod(caller, ["sleep", "infinity"]), name)
        wait_ready(name, "smoke=dapr")
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false")


def invoke_from(namespace: str, caller: str) -> dict[str, object]:
    answer: dict[str, object] = json.loads(
        exec_python(namespace, caller, INVOKE.format(namespace=namespace))
    )
    print(f"{caller} -> smoke-server: {answer['status']} {answer['body']}")
    return answer


def test_mtls_is_on_and_every_pod_got_a_sidecar(namespace: str) -> None:
    config = kubectl_json("-n", "dapr-system", "get", "configurations.dapr.io", "daprsystem")
    assert config["spec"]["mtls"]["enabled"] is True
    for item in kubectl_json("-n", namespace, "get", "pods")["items"]:
        containers = [c["name"] for c in item["spec"]["containers"]]
        assert containers == ["app", "daprd"], (item["metadata"]["name"], containers)


def test_an_allowed_app_id_invokes_the_server_through_dapr(namespace: str) -> None:
    answer = invoke_from(namespace, "smoke-client")
    assert answer == {"status": 200, "body": "hello from smoke-server"}


def test_an_app_id_that_access_control_denies_is_refused(namespace: str) -> None:
    answer = invoke_from(namespace, "smoke-intruder")
    assert answer["status"] == 403
    # The caller's identity is its SPIFFE id from the mTLS certificate Sentry issued.
    denied = f"access control policy has denied access to id: spiffe://public/ns/{namespace}/smoke-intruder"
    assert denied in str(answer["body"]), answer
