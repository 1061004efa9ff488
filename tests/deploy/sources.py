"""Readers for what the checks compare: rendered manifests, skaffold.yaml, the Dockerfile,
.dockerignore, uv.lock, the gunicorn configs and the services' Settings and apps.

Each reader uses the real tool or the project's own code where one exists (kustomize,
gunicorn's config loader, the Settings classes, ``create_app``), so a check compares what
Kubernetes, the image and the code would actually see.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from flask import Flask
from gunicorn.app.wsgiapp import WSGIApplication
from gunicorn.config import Config
from packaging.markers import Marker

import inventory
import order_processor
import payment
from contracts.roles import Role
from inventory.settings import Settings as InventorySettings
from order_processor.settings import Settings as OrderProcessorSettings
from payment.settings import Settings as PaymentSettings
from servicekit.settings import ServiceSettings

Obj = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
DEV = K8S / "overlays" / "dev"
DAPR_KINDS = frozenset({"Component", "Configuration", "Resiliency"})
# The kinds that run pods from a template: each gets the same checks.
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
DAPR_API_VERSION = "dapr.io/v1alpha1"
KUBERNETES_VERSION = "1.32"
# The one Dockerfile of the three images; the build arg SERVICE picks the service.
DOCKERFILE = ROOT / "services" / "Dockerfile"
LOCAL_CLUSTER = ROOT / "deploy" / "local-cluster"
IMAGES_SCRIPT = ROOT / "scripts" / "cluster" / "images.sh"


@dataclass(frozen=True)
class Service:
    """One of the three services: folder = image = Deployment = Service = Dapr app id."""

    name: str
    settings: type[ServiceSettings]
    create_app: Callable[[], Flask]

    @property
    def folder(self) -> Path:
        return ROOT / "services" / self.name


SERVICES = {
    s.name: s
    for s in (
        Service("order-processor", OrderProcessorSettings, order_processor.create_app),
        Service("inventory", InventorySettings, inventory.create_app),
        Service("payment", PaymentSettings, payment.create_app),
    )
}


# --- kustomize ------------------------------------------------------------------------------


class RenderError(Exception):
    """kustomize refused to build the kustomization."""


def render(kustomize: Path, path: Path) -> list[Obj]:
    """``kustomize build path``: the objects skaffold would apply, in order."""
    result = subprocess.run(
        [str(kustomize), "build", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kind_name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o.get("kind") in WORKLOAD_KINDS]


def containers(workload: Obj) -> list[Obj]:
    """Every container of the workload's pods, init containers too."""
    spec = pod_spec(workload)
    found: list[Obj] = spec["containers"] + (spec.get("initContainers") or [])
    return found


def pod_spec(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def pod_annotations(obj: Obj) -> dict[str, Any]:
    annotations: dict[str, Any] = obj["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations


def dapr_apps(objects: list[Obj]) -> list[Obj]:
    """The Deployments whose pods get a Dapr sidecar."""
    return [
        d
        for d in of_kind(objects, "Deployment")
        if str(pod_annotations(d).get("dapr.io/enabled")).lower() == "true"
    ]


def plain_env(container: Obj) -> dict[str, str]:
    """The container's literal env values (secret references have no value here)."""
    return {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}


def container_env(container: Obj) -> dict[str, str]:
    """The container's environment as the app sees it: the literal values, and for each value
    from a Secret a stand-in that names it (distinct, and as long as a token must be)."""
    env = plain_env(container)
    for e in container.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            env[e["name"]] = f"secret {ref['name']}/{ref['key']}".ljust(64, ".")
    return env


# --- skaffold.yaml --------------------------------------------------------------------------


def load_skaffold(path: Path = ROOT / "skaffold.yaml") -> Obj:
    config: Obj = yaml.safe_load(path.read_text())
    return config


def profile(config: Obj, name: str) -> Obj:
    for p in config.get("profiles") or []:
        if p.get("name") == name:
            found: Obj = p
            return found
    raise KeyError(f"skaffold.yaml has no profile {name!r}")


def skaffold_artifacts(config: Obj) -> list[tuple[str, Obj]]:
    """Every artifact skaffold.yaml builds, the top level's then each profile's, each with the
    words that name it in a problem."""
    found = [(f"skaffold artifact {a.get('image')}", a) for a in config["build"]["artifacts"]]
    for p in config.get("profiles") or []:
        found += [
            (f"profile {p.get('name')}: skaffold artifact {a.get('image')}", a)
            for a in (p.get("build") or {}).get("artifacts") or []
        ]
    return found


def build_args(artifact: Obj) -> dict[str, str]:
    """What skaffold passes the artifact's Dockerfile as --build-arg."""
    args = (artifact.get("docker") or {}).get("buildArgs") or {}
    return {str(key): str(value) for key, value in args.items()}


def hook_commands(config: Obj) -> list[str]:
    """The shell text of every host hook skaffold runs before deploying."""
    hooks = config.get("deploy", {}).get("kubectl", {}).get("hooks", {}).get("before") or []
    return [" ".join(h["host"]["command"]) for h in hooks if "host" in h]


# --- the local cluster -----------------------------------------------------------------------


def load_yaml_all(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def chart_values(chart: Path) -> Obj:
    """The values a Helm chart and its subcharts take, as one tree: each subchart's under its
    name, as a parent chart's values file sets them."""
    values: Obj = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    for sub in sorted((chart / "charts").glob("*/values.yaml")):
        values.setdefault(sub.parent.name, {}).update(yaml.safe_load(sub.read_text()) or {})
    return values


def shell_assignment(script: str, name: str, root: Path = ROOT) -> str | None:
    """What bash makes of the script's ``name=...`` line, run on its own with ``$root`` set as
    the script sets it (the repo root), or None if there is no such line."""
    line = re.search(rf"^{name}=.*$", script, re.M)
    if line is None:
        return None
    result = subprocess.run(
        ["bash", "-c", f'set -euo pipefail\n{line[0]}\nprintf %s "${name}"'],
        env={"PATH": os.environ.get("PATH", ""), "root": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


# --- the Dockerfile --------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM of a Dockerfile and its instructions, as (INSTRUCTION, the rest) pairs."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [rest for name, rest in self.instructions if name == instruction]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.args("ENV"):
            tokens = shlex.split(rest)
            if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
                values[tokens[0]] = " ".join(tokens[1:])
                continue
            for token in tokens:
                key, _, value = token.partition("=")
                values[key] = value
        return values

    def copies(self) -> list[Copy]:
        return [Copy.parse(rest) for rest in self.args("COPY")]

    def workdir(self) -> str:
        workdirs = self.args("WORKDIR")
        return workdirs[-1] if workdirs else "/"


@dataclass(frozen=True)
class Copy:
    """A COPY instruction: from the build context, or ``--from`` an earlier stage."""

    sources: list[str]
    dest: str
    from_stage: str | None
    chown: str | None

    @classmethod
    def parse(cls, rest: str) -> Copy:
        tokens = shlex.split(rest)
        flags = {t.split("=", 1)[0]: t.split("=", 1)[1] for t in tokens if t.startswith("--")}
        paths = [t for t in tokens if not t.startswith("--")]
        return cls(paths[:-1], paths[-1], flags.get("--from"), flags.get("--chown"))


def parse_dockerfile(text: str, given: dict[str, str] | None = None) -> list[Stage]:
    """Stages and their instructions as Docker reads them with the build args ``given``: comment
    lines and line continuations, and each ARG put in where Docker puts it."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append((pending + line).strip())
        pending = ""
    given = given or {}
    stages: list[Stage] = []
    global_args: dict[str, str] = {}  # the ARGs before the first FROM: only FROM sees them
    stage_args: dict[str, str] = {}  # the ARGs the current stage has declared so far
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = substitute(rest, global_args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
            stage_args = {}
        elif instruction == "ARG":
            # The build arg, else the default, else (in a stage) the global ARG of that name.
            key, has_default, default = rest.strip().partition("=")
            declared = stage_args if stages else global_args
            fallback = substitute(default, declared) if has_default else global_args.get(key, "")
            declared[key] = given.get(key, fallback)
        elif stages:
            if instruction == "RUN":  # the command without its flags (--mount=...)
                rest = re.sub(r"^(\s*--\S+)+", "", rest)
            # RUN too: Docker leaves it to the shell, which has the ARGs in its environment.
            stages[-1].instructions.append((instruction, substitute(rest, stage_args).strip()))
    return stages


def substitute(text: str, args: dict[str, str]) -> str:
    """``text`` with ``${NAME}`` and ``$NAME`` replaced for each of ``args``; other names (the
    base image's ENV, like $PATH) stay as written, since their values are the image's."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def dockerfile(service: str, text: str | None = None) -> list[Stage]:
    """services/Dockerfile, or ``text`` (an edited copy of it), as Docker reads it to build
    ``service``: with the build args skaffold.yaml's artifact of that name passes."""
    artifacts = load_skaffold()["build"]["artifacts"]
    artifact: Obj = next((a for a in artifacts if a["image"] == service), {})
    text = DOCKERFILE.read_text() if text is None else text
    return parse_dockerfile(text, build_args(artifact))


# --- .dockerignore --------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePattern:
    """One .dockerignore line; ``exclusion`` is a ``!`` line, which lets a path back in."""

    text: str
    exclusion: bool
    regex: re.Pattern[str]


def parse_dockerignore(text: str) -> list[IgnorePattern]:
    """Patterns as Docker's patternmatcher compiles them (``**``, ``*``, ``?``, ``!``)."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        line = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        patterns.append(IgnorePattern(line, exclusion, re.compile(_pattern_regex(line))))
    return patterns


def _pattern_regex(pattern: str) -> str:
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in "[]-^":
            out += ch
        else:
            out += re.escape(ch)
        i += 1
    return out + "$"


def ignored(patterns: list[IgnorePattern], path: str) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern matching the
    path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        if pattern.exclusion != result:
            continue
        if any(pattern.regex.match(c) for c in candidates):
            result = not pattern.exclusion
    return result


def build_context(root: Path, patterns: list[IgnorePattern]) -> set[str]:
    """Every file Docker sends as the build context of ``root``, as relative paths. An excluded
    folder is skipped unless an exception pattern names something inside it, as Docker does."""
    files: set[str] = set()
    for folder, dirs, names in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        kept = []
        for d in dirs:
            rel = prefix + d
            if ignored(patterns, rel) and not any(
                p.exclusion and (p.text + "/").startswith(rel + "/") for p in patterns
            ):
                continue
            kept.append(d)
        dirs[:] = kept
        files.update(prefix + n for n in names if not ignored(patterns, prefix + n))
    return files


# --- uv.lock and pyproject ------------------------------------------------------------------


def load_lock() -> Obj:
    with (ROOT / "uv.lock").open("rb") as f:
        return tomllib.load(f)


def workspace_folders(lock: Obj) -> dict[str, str]:
    """Workspace member name -> its folder, as the lock records it."""
    folders = {}
    for package in lock["package"]:
        source = package.get("source", {})
        folder = source.get("editable") or source.get("directory")
        if folder and folder != ".":
            folders[package["name"]] = folder
    return folders


def locked_closure(lock: Obj, name: str, environment: dict[str, str]) -> set[str]:
    """Every locked package ``name`` needs in ``environment`` (markers evaluated), itself too."""
    packages = {p["name"]: p for p in lock["package"]}
    done: set[tuple[str, str]] = set()  # (package, extra); "" is the package itself
    todo: list[tuple[str, str]] = [(name, "")]
    while todo:
        key = todo.pop()
        if key in done:
            continue
        done.add(key)
        package, extra = packages[key[0]], key[1]
        if extra:
            deps = package.get("optional-dependencies", {}).get(extra, [])
        else:
            deps = package.get("dependencies", [])
        for dep in deps:
            marker = dep.get("marker")
            if marker and not Marker(marker).evaluate({**environment, "extra": ""}):
                continue
            todo.append((dep["name"], ""))
            todo.extend((dep["name"], e) for e in dep.get("extra", ()))
    return {package for package, _ in done}


def requires_python() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        spec: str = tomllib.load(f)["project"]["requires-python"]
    return spec


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "Makefile has no UV_VERSION"
    return match.group(1)


# --- gunicorn, Settings, apps ---------------------------------------------------------------


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Exactly ``env`` as the process environment, as a container would have it."""
    with mock.patch.dict(os.environ, env, clear=True):
        yield


def gunicorn_config(service: str, env: dict[str, str]) -> Config:
    """The settings gunicorn itself derives from the service's gunicorn.conf.py under ``env``."""
    path = ROOT / "services" / service / "gunicorn.conf.py"
    app = WSGIApplication.__new__(WSGIApplication)
    app.cfg = Config()
    with environment(env):
        app.load_config_from_file(str(path))
    return app.cfg


def gunicorn_config_source(service: str) -> str:
    """The text of the service's gunicorn.conf.py and of the servicekit modules it imports,
    where the settings every service shares are read from the environment."""
    path = ROOT / "services" / service / "gunicorn.conf.py"
    texts = [path.read_text()]
    modules: set[str] = set()
    for node in ast.walk(ast.parse(texts[0])):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("servicekit"):
            # `from servicekit import workers` imports a module too.
            modules |= {f"{node.module}.{alias.name}" for alias in node.names} | {str(node.module)}
    for module in sorted(modules):
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:  # a name inside a module, not a module
            continue
        if spec is not None and spec.origin is not None:
            texts.append(Path(spec.origin).read_text())
    return "\n".join(texts)


def bind_port(cfg: Config) -> int:
    binds: list[str] = cfg.bind
    assert len(binds) == 1, f"expected one bind address, got {binds}"
    return int(binds[0].rsplit(":", 1)[1])


def settings(service: str, env: dict[str, str]) -> ServiceSettings:
    """The service's Settings as the container would build them from ``env``."""
    with environment(env):
        return SERVICES[service].settings()


@cache
def app(service: str, app_token: str | None = None) -> Flask:
    """The service's app as create_app() builds it, needing no sidecar; with ``app_token`` it
    refuses requests that lack the token its sidecar would add (APP_API_TOKEN)."""
    # The order API's role tokens, which the Deployment gives from Secrets.
    env = {role.token_variable: f"{role} token".ljust(64, ".") for role in Role}
    with environment({**env, **({"APP_API_TOKEN": app_token} if app_token else {})}):
        return SERVICES[service].create_app()


def dapr_yaml_app_ids() -> set[str]:
    config = yaml.safe_load((ROOT / "dapr.yaml").read_text())
    return {a["appID"] for a in config["apps"]}


def dapr_injector_annotations(dapr_dir: Path) -> set[str]:
    """Every pod annotation the sidecar injector of this Dapr version reads."""
    source = (dapr_dir / "pkg" / "injector" / "patcher" / "sidecar.go").read_text()
    return set(re.findall(r'annotation:"(dapr\.io/[a-z0-9-]+)"', source))
