"""`make cluster-run`: what `skaffold dev` does on kind, done on the local cluster.

No skaffold binary can be had here, so this reads skaffold.yaml itself, and that file stays the
one source of what is built, deployed and forwarded:

1. build every artifact from its Dockerfile, build args and context (buildah), tag it by the
   digest of its inputs, and push it to the local registry;
2. run the before-deploy hooks (namespace, Secrets) with SKAFFOLD_KUBE_CONTEXT set;
3. render the kustomize paths, replace each artifact's image name with its pushed tag (as
   skaffold does), apply, and wait for every Deployment to roll out;
4. forward the ports of `portForward`, and stay until Ctrl-C, which stops the forwards and
   deletes what was deployed;
5. meanwhile, with a profile that has `sync` rules (`dev`, which activates for `skaffold dev`
   as it does here), copy each saved file that a rule matches into the running containers of
   that image, as skaffold's manual sync does (a tar stream into `tar xmf - -C /` in the
   container); gunicorn's reloader does the rest.

`--no-forward` deploys and returns, as `skaffold run` does (so no `dev` profile), for the tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"
PYTHON_IMAGE = f"{REGISTRY}/local/python:3.11-bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
KUBE_CONTEXT = "dapr-local"
NAMESPACE = "dapr-order-processing"  # fixed by deploy/k8s/base/kustomization.yaml
CACHE = Path(os.environ.get("DAPR_LOCAL_CACHE", Path.home() / ".cache/dapr-order-processing"))
STATE = Path(os.environ.get("DAPR_LOCAL_STATE", Path.home() / ".local/state/dapr-order-processing"))


def say(message: str) -> None:
    print(f"[cluster-run] {message}", flush=True)


def run(*command: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"[cluster-run] {' '.join(command[:3])} ... failed:\n{done.stderr or done.stdout}")
    return done.stdout


def load_config(command: str, profile: str | None = None) -> dict[str, Any]:
    """skaffold.yaml with the build and manifests of each active profile laid over the top
    level: the one named, and those whose `activation` matches as skaffold matches it (an
    entry's conditions all hold, for `command` and this cluster's context)."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    for candidate in config.get("profiles") or []:
        if candidate["name"] == profile or any(
            _activates(entry, command) for entry in candidate.get("activation") or []
        ):
            say(f"profile {candidate['name']} active")
            for key in ("build", "manifests"):
                if key in candidate:
                    config[key] = {**config.get(key, {}), **candidate[key]}
    return config


def _activates(entry: dict[str, str], command: str) -> bool:
    return (
        entry.get("command", command) == command
        and re.fullmatch(entry.get("kubeContext", ".*"), KUBE_CONTEXT) is not None
        and "env" not in entry  # not used by this project's skaffold.yaml
    )


def input_digest(context: Path, dockerfile: Path, build_args: dict[str, str]) -> str:
    """Like skaffold's inputDigest tag policy: the Dockerfile, its build args and every file it
    copies from the context, so an image is built again only when something it holds has
    changed. The build args go into the COPY lines as Docker puts them (`${SERVICE}`,
    `$SERVICE`): the one Dockerfile copies each service's own folder."""
    variable = re.compile(r"\$\{(\w+)\}|\$(\w+)")
    text = variable.sub(lambda m: build_args.get(m[1] or m[2], m[0]), dockerfile.read_text())
    copied = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            copied += [w for w in words[1:-1] if not w.startswith("--")]
    files = run("git", "-C", str(context), "ls-files", "--cached", "--others", "--exclude-standard",
                "--", *copied)  # fmt: skip
    digest = hashlib.sha256(dockerfile.read_bytes())
    digest.update(json.dumps(build_args, sort_keys=True).encode())
    for name in sorted(set(files.split())):
        path = context / name
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def buildah(*args: str) -> str:
    """buildah with its storage in the cluster's cache, as scripts/cluster/images.sh uses it."""
    return run(
        "buildah",
        "--root",
        str(CACHE / "cluster/images/buildah"),
        "--runroot",
        str(STATE / "cluster/buildah-run"),
        "--storage-driver",
        "overlay",
        *args,
    )


def build(artifact: dict[str, Any]) -> str:
    """Builds and pushes one artifact; returns its tag in the local registry."""
    context = ROOT / artifact.get("context", ".")
    docker = artifact.get("docker", {})
    dockerfile = context / docker.get("dockerfile", "Dockerfile")
    # The local registry's Python base, then what skaffold.yaml passes (SERVICE, PORT).
    build_args = {"PYTHON_IMAGE": PYTHON_IMAGE, **(docker.get("buildArgs") or {})}
    tag = f"{REGISTRY}/{artifact['image']}:{input_digest(context, dockerfile, build_args)}"
    if _in_registry(tag):
        say(f"{tag} already built")
        return tag
    started = time.monotonic()
    args = ["bud", "--network", "host", "--tls-verify=false", "--layers", "-f", str(dockerfile)]
    args += [f"--build-arg={key}={value}" for key, value in build_args.items()]
    if CA_BUNDLE.is_file():
        # The machine's trust store, for a proxy that inspects TLS; never in a layer.
        args += ["--secret", f"id=ca-bundle,src={CA_BUNDLE}"]
    buildah(*args, "-t", tag, str(context))
    buildah("push", "--quiet", "--tls-verify=false", tag, f"docker://{tag}")
    say(f"built and pushed {tag} in {time.monotonic() - started:.0f} s")
    return tag


def _in_registry(tag: str) -> bool:
    repository, reference = tag.removeprefix(f"{REGISTRY}/").rsplit(":", 1)
    done = subprocess.run(
        [
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            f"http://{REGISTRY}/v2/{repository}/manifests/{reference}",
        ],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def run_hooks(config: dict[str, Any]) -> None:
    hooks = ((config.get("deploy") or {}).get("kubectl") or {}).get("hooks") or {}
    for hook in hooks.get("before") or []:
        command = hook["host"]["command"]
        run(*command, env={"SKAFFOLD_KUBE_CONTEXT": KUBE_CONTEXT})
    say(f"ran {len(hooks.get('before') or [])} before-deploy hook(s)")


# The order API's role tokens, as the README's steps and orderctl read them (ORDER_API_TOKENS).
ROLE_TOKENS = {"CUSTOMER_API_TOKEN": "customer-api-token",
               "OPERATOR_API_TOKEN": "operator-api-token",
               "MANAGER_API_TOKEN": "manager-api-token"}  # fmt: skip


def write_role_tokens(namespace: str) -> Path:
    """The cluster's role tokens (the Secrets the hook made) in a file of the user's only, so
    `ORDER_API_TOKENS=<file>` points orderctl and the README's steps at this deployment."""
    path = STATE / "cluster/tokens.env"
    lines = []
    for variable, secret in ROLE_TOKENS.items():
        encoded = run("kubectl", "-n", namespace, "get", "secret", secret, "-o",
                      "jsonpath={.data.token}")  # fmt: skip
        lines.append(f"{variable}={base64.b64decode(encoded).decode()}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(lines))
    return path


def render(config: dict[str, Any], tags: dict[str, str]) -> str:
    """The kustomize output with each artifact's image replaced by its tag."""
    documents = []
    for path in config["manifests"]["kustomize"]["paths"]:
        documents.append(run("kubectl", "kustomize", str(ROOT / path)))
    manifests = "\n---\n".join(documents)
    for image, tag in tags.items():
        manifests = re.sub(rf"(\bimage:\s*){re.escape(image)}\s*$", rf"\g<1>{tag}", manifests,
                           flags=re.MULTILINE)  # fmt: skip
    return manifests


def deploy(manifests: str) -> list[tuple[str, str]]:
    run("kubectl", "apply", "-f", "-", stdin=manifests)
    deployments = [
        (doc["metadata"].get("namespace", "default"), doc["metadata"]["name"])
        for doc in yaml.safe_load_all(manifests)
        if doc and doc.get("kind") == "Deployment"
    ]
    for namespace, name in deployments:
        run("kubectl", "-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=300s")
    say(f"rolled out {', '.join(name for _, name in deployments)}")
    return deployments


class PortForwards:
    """kubectl port-forward for each entry of skaffold.yaml's portForward, started again when
    one ends (a forward to a Service sticks to one pod, and ends with it)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.entries = config.get("portForward") or []
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * len(self.entries)
        taken = [entry["localPort"] for entry in self.entries if _answers(entry["localPort"])]
        if taken:
            sys.exit(
                f"[cluster-run] localhost ports {taken} are taken (a `make run`, or `make up`'s "
                "Zipkin? `dapr stop -f .` and `make down` free them)"
            )

    def keep_up(self) -> None:
        for index, entry in enumerate(self.entries):
            process = self.processes[index]
            if process is not None and process.poll() is None:
                continue
            target = f"{entry['resourceType']}/{entry['resourceName']}"
            if process is not None:
                say(f"the forward to {target} ended (exit {process.returncode}); starting it again")
            self.processes[index] = subprocess.Popen(
                ["kubectl", "-n", entry["namespace"], "port-forward", target,
                 f"{entry['localPort']}:{entry['port']}"],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            say(f"forwarding localhost:{entry['localPort']} -> {target}:{entry['port']}")

    def stop(self) -> None:
        for process in self.processes:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


class FileSync:
    """skaffold's manual sync: a file that a rule's `src` glob matches goes to `dest` joined
    with its path minus `strip`, in every running container of the rule's image."""

    def __init__(self, config: dict[str, Any], tags: dict[str, str]) -> None:
        self.tags = tags
        self.rules = [
            (artifact["image"], rule)
            for artifact in config["build"]["artifacts"]
            for rule in (artifact.get("sync") or {}).get("manual") or []
        ]
        self.seen = self._modified()

    def destinations(self, path: str) -> list[tuple[str, str]]:
        """(image, path in its containers) for each rule that syncs this repo path."""
        return [
            (image, str(PurePosixPath(rule["dest"]) / path.removeprefix(rule.get("strip", ""))))
            for image, rule in self.rules
            if re.fullmatch(_glob_regex(rule["src"]), path)
        ]

    def changed(self) -> list[str]:
        """The repo paths that rules match, saved since the last call."""
        now = self._modified()
        changed = sorted(path for path, mtime in now.items() if self.seen.get(path) != mtime)
        self.seen = now
        return changed

    def copy(self, path: str) -> None:
        """Into every running container of the image; a pod that goes away meanwhile is
        reported and skipped, as skaffold does, and the loop goes on."""
        for image, destination in self.destinations(path):
            for namespace, pod, container in self._containers(self.tags[image]):
                done = subprocess.run(
                    ["kubectl", "-n", namespace, "exec", "-i", pod, "-c", container, "--",
                     "tar", "xmf", "-", "-C", "/", "--no-same-owner"],
                    input=_tar_of(ROOT / path, destination), capture_output=True, check=False,
                )  # fmt: skip
                if done.returncode == 0:
                    say(f"synced {path} to {pod}:{destination}")
                else:
                    say(f"could not sync {path} to {pod}: {done.stderr.decode().strip()}")

    def _modified(self) -> dict[str, int]:
        files = run("git", "-C", str(ROOT), "ls-files", "--cached", "--others",
                    "--exclude-standard")  # fmt: skip
        return {
            path: (ROOT / path).stat().st_mtime_ns
            for path in files.split()
            if self.destinations(path) and (ROOT / path).is_file()
        }

    @staticmethod
    def _containers(image: str) -> list[tuple[str, str, str]]:
        """(namespace, pod, container) of every running container of this image."""
        pods = yaml.safe_load(run("kubectl", "get", "pods", "-A", "-o", "json"))["items"]
        return [
            (pod["metadata"]["namespace"], pod["metadata"]["name"], container["name"])
            for pod in pods
            if pod["status"].get("phase") == "Running"
            for container in pod["spec"]["containers"]
            if container["image"] == image
        ]


def _glob_regex(glob: str) -> str:
    """skaffold's globs: `**/` any folders (none too), `*` within one name."""
    parts = re.split(r"(\*\*/|\*)", glob)
    table = {"**/": "(?:.*/)?", "*": "[^/]*"}
    return "".join(table.get(part, re.escape(part)) for part in parts)


def _tar_of(source: Path, destination: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tar.gettarinfo(str(source), arcname=destination.lstrip("/"))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        with source.open("rb") as data:
            tar.addfile(info, data)
    return buffer.getvalue()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="a profile of skaffold.yaml, e.g. dev")
    parser.add_argument("--no-forward", action="store_true", help="deploy, then return")
    options = parser.parse_args()

    # Staying in the foreground is `skaffold dev`; deploying and returning, `skaffold run`.
    config = load_config("run" if options.no_forward else "dev", options.profile)
    forwards = None if options.no_forward else PortForwards(config)
    started = time.monotonic()
    tags = {artifact["image"]: build(artifact) for artifact in config["build"]["artifacts"]}
    run_hooks(config)
    say(f"the order API's role tokens: ORDER_API_TOKENS={write_role_tokens(NAMESPACE)}")
    manifests = render(config, tags)
    deploy(manifests)
    say(f"deployed in {time.monotonic() - started:.0f} s")
    if forwards is None:
        return

    sync = FileSync(config, tags)
    stopping = threading.Event()
    for signo in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signo, lambda *_: stopping.set())
    if sync.rules:
        say(f"syncing saved files by {len(sync.rules)} rule(s) of skaffold.yaml")
    say("ready; Ctrl-C stops the forwards and deletes the deployment")
    while not stopping.is_set():
        forwards.keep_up()
        for path in sync.changed():
            sync.copy(path)
        stopping.wait(1)
    forwards.stop()
    say("deleting what was deployed")
    run("kubectl", "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=manifests)


if __name__ == "__main__":
    main()
