"""The checks of the offline proof. Each returns the problems it finds (empty: all good), so a
test asserts that the real files have none and that a broken copy has the expected one: every
check is shown to be able to fail.

What a cluster would refuse, these refuse first: schema violations (Kubernetes, the Dapr CRDs,
skaffold), and names, ports, paths and references that do not meet across the code, the
images, the manifests and skaffold.yaml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError as JsonSchemaError
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename
from pydantic import ValidationError
from referencing import Registry, Resource
from werkzeug.exceptions import HTTPException

from inventory.settings import Settings as InventorySettings
from order_processor.settings import Settings as OrderProcessorSettings
from payment.settings import Settings as PaymentSettings
from tests.deploy.sources import (
    DAPR_API_VERSION,
    DAPR_KINDS,
    DOCKERFILE,
    KUBERNETES_VERSION,
    ROOT,
    SERVICES,
    WORKLOAD_KINDS,
    Obj,
    Stage,
    app,
    bind_port,
    build_args,
    container_env,
    containers,
    dapr_apps,
    dapr_yaml_app_ids,
    dockerfile,
    gunicorn_config,
    gunicorn_config_source,
    hook_commands,
    kind_name,
    locked_closure,
    makefile_uv_version,
    of_kind,
    plain_env,
    pod_annotations,
    pod_spec,
    profile,
    requires_python,
    settings,
    shell_assignment,
    skaffold_artifacts,
    workloads,
    workspace_folders,
)

# Names that mark a value as secret: such a value must come from a Secret, never be written.
SECRETISH = re.compile(r"(?i)(pass(word|wd)?\b|token|secret|credential|api[-_]?key)")
# The Dapr annotations every app pod must set, as strings.
REQUIRED_ANNOTATIONS = (
    "dapr.io/enabled",
    "dapr.io/app-id",
    "dapr.io/app-port",
    "dapr.io/app-protocol",
    "dapr.io/config",
    "dapr.io/log-level",
    "dapr.io/sidecar-cpu-request",
    "dapr.io/sidecar-cpu-limit",
    "dapr.io/sidecar-memory-request",
    "dapr.io/sidecar-memory-limit",
)
# The image's command: the same gunicorn config file the local run uses.
IMAGE_COMMAND = ["gunicorn", "--config", "gunicorn.conf.py"]
# glibc of each Debian release a slim Python image is built on: which manylinux wheels run.
DEBIAN_GLIBC = {"bullseye": 31, "bookworm": 36, "trixie": 41}
ARCHITECTURES = ("x86_64", "aarch64")
K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# A Resiliency target's references and the policy sections they name.
REFS = (("timeout", "timeouts"), ("retry", "retries"), ("circuitBreaker", "circuitBreakers"))


def app_container(deployment: Obj) -> Obj:
    """The app's container: the one named like its Deployment."""
    containers: list[Obj] = pod_spec(deployment)["containers"]
    name = deployment["metadata"]["name"]
    return next((c for c in containers if c.get("name") == name), containers[0])


def namespace_of(objects: list[Obj]) -> str:
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert len(namespaces) == 1, f"expected one namespace, got {namespaces}"
    return str(namespaces.pop())


def app_ids(objects: list[Obj]) -> set[str]:
    return {str(pod_annotations(d).get("dapr.io/app-id")) for d in dapr_apps(objects)}


def called_app_ids(objects: list[Obj]) -> set[str]:
    """The app ids order-processor's code invokes, from its Settings under its manifest's env."""
    order = next(d for d in dapr_apps(objects) if d["metadata"]["name"] == "order-processor")
    s = cast(
        OrderProcessorSettings, settings("order-processor", container_env(app_container(order)))
    )
    return {s.inventory_app_id, s.payment_app_id}


# --- schemas ----------------------------------------------------------------------------------


def kubernetes_problems(objects: list[Obj]) -> list[str]:
    """kubernetes-validate, strict, Kubernetes 1.32: every object has a schema and passes it,
    except Dapr resources, which dapr_crd_problems checks against Dapr's own CRDs."""
    problems = []
    for obj in objects:
        try:
            used = kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            if used != KUBERNETES_VERSION:
                problems.append(f"{kind_name(obj)}: validated for {used}, not {KUBERNETES_VERSION}")
        except kubernetes_validate.SchemaNotFoundError:
            if not (obj.get("apiVersion") == DAPR_API_VERSION and obj.get("kind") in DAPR_KINDS):
                problems.append(
                    f"{kind_name(obj)}: no Kubernetes {KUBERNETES_VERSION} schema for "
                    f"{obj.get('apiVersion')} {obj.get('kind')}, and not a Dapr resource"
                )
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            problems.append(f"{kind_name(obj)}: {path}: {err.message}")
    return problems


@dataclass(frozen=True)
class CrdSchemas:
    """JSON schemas of the Dapr CRDs, by (apiVersion, kind), with unknown fields rejected."""

    schemas: dict[tuple[str, str], Obj]
    registry: Registry[Any]
    unsupported: dict[tuple[str, str], str]


def load_crd_schemas(crd_dir: Path) -> CrdSchemas:
    """Each CRD's openAPIV3Schema as JSON Schema: objects with properties take no others (what
    `kubectl apply --validate=strict` enforces), int-or-string and nullable spelled out, and
    metadata checked as Kubernetes ObjectMeta."""
    schemas: dict[tuple[str, str], Obj] = {}
    unsupported: dict[tuple[str, str], str] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                key = (f"{group}/{version['name']}", kind)
                source = version["schema"]["openAPIV3Schema"]
                if "x-kubernetes-validations" in yaml.safe_dump(source):
                    unsupported[key] = "its CRD has CEL rules, which no offline check evaluates"
                schema = _strict(source)
                schema["properties"]["metadata"] = {"$ref": OBJECT_META}
                schemas[key] = schema
    definitions = _kubernetes_definitions()
    registry: Registry[Any] = Registry().with_resource(
        K8S_DEFINITIONS, Resource.from_contents(definitions)
    )
    return CrdSchemas(schemas, registry, unsupported)


def _kubernetes_definitions() -> Obj:
    """kubernetes-validate's bundled definitions for the Kubernetes version we target."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = [
        d.name
        for d in root.iterdir()
        if d.name.startswith(f"v{KUBERNETES_VERSION}.") and d.name.endswith("-local-strict")
    ]
    assert wanted, f"kubernetes-validate has no strict schemas for {KUBERNETES_VERSION}"
    definitions: Obj = json.loads((root / max(wanted) / "_definitions.json").read_text())
    return definitions


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if "properties" in node and not open_object:
        out["additionalProperties"] = False
    return out


def dapr_crd_problems(objects: list[Obj], crds: CrdSchemas) -> list[str]:
    """Every dapr.io resource against the CRD of the Dapr version the runtime is built from."""
    problems = []
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        if api_version.split("/", maxsplit=1)[0] != "dapr.io":
            continue
        key = (api_version, str(obj.get("kind")))
        if key not in crds.schemas:
            problems.append(f"{kind_name(obj)}: no Dapr CRD for {key[0]} {key[1]}")
            continue
        if key in crds.unsupported:
            problems.append(f"{kind_name(obj)}: {crds.unsupported[key]}")
        validator = Draft202012Validator(crds.schemas[key], registry=crds.registry)
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in err.absolute_path)
            problems.append(f"{kind_name(obj)}: {path}: {err.message}")
    return problems


def skaffold_problems(config: Obj, schema: Obj) -> list[str]:
    """skaffold.yaml against the JSON schema of its apiVersion (unknown fields are refused)."""
    problems = []
    for error in Draft7Validator(schema).iter_errors(config):
        for leaf in _deepest(error):
            problem = f"skaffold.yaml: {'.'.join(map(str, leaf.absolute_path))}: {leaf.message}"
            if problem not in problems:
                problems.append(problem)
    return problems


def _deepest(error: JsonSchemaError) -> list[JsonSchemaError]:
    """The schema is all anyOf (one branch per builder, deployer...): the branch that got
    furthest into the document is the one that was meant, so report its errors."""
    if not error.context:
        return [error]
    leaves = [leaf for sub in error.context for leaf in _deepest(sub)]
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    return [leaf for leaf in leaves if len(leaf.absolute_path) == depth]


# --- names: images, app ids, Configurations, scopes --------------------------------------------


def image_problems(objects: list[Obj], config: Obj) -> list[str]:
    """Our images are skaffold artifacts and vice versa; anything else is a pinned third party.
    Every artifact, a profile's too, builds services/Dockerfile from the repo root with SERVICE
    naming its own image."""
    problems = []
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    used: set[str] = set()
    for workload in workloads(objects):
        for container in containers(workload):
            image = container["image"]
            used.add(image)
            if image in artifacts:
                continue
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if not re.search(r"\d", tag):
                problems.append(
                    f"{kind_name(workload)}: image {image} is neither a skaffold artifact "
                    "nor a third-party image pinned to a version"
                )
    problems += [
        f"skaffold artifact {i} is used by no manifest" for i in artifacts if i not in used
    ]
    wanted = DOCKERFILE.relative_to(ROOT).as_posix()
    for where, artifact in skaffold_artifacts(config):
        image, path = artifact["image"], artifact.get("docker", {}).get("dockerfile")
        if image not in SERVICES:
            problems.append(f"{where} is not a service folder")
        if artifact.get("context") != "." or path != wanted:
            problems.append(
                f"{where}: build context must be the repo root and the Dockerfile {wanted}, "
                f"not {artifact.get('context')} and {path}"
            )
        service = build_args(artifact).get("SERVICE")
        if service != image:
            passed = "no SERVICE" if service is None else f"SERVICE={service}"
            problems.append(f"{where}: passes {passed}; it must pass SERVICE={image}")
    return problems


def app_id_problems(objects: list[Obj]) -> list[str]:
    """One name everywhere: Deployment = image = dapr.io/app-id = the code's app_id = dapr.yaml's
    appID, and the app ids order-processor invokes are deployed."""
    problems = []
    for deployment in dapr_apps(objects):
        name = deployment["metadata"]["name"]
        container = app_container(deployment)
        app_id = pod_annotations(deployment).get("dapr.io/app-id")
        if name not in SERVICES:
            problems.append(f"{kind_name(deployment)} runs no known service")
            continue
        code_id = settings(name, container_env(container)).app_id
        if not (app_id == name == container["image"] == code_id):
            problems.append(
                f"{kind_name(deployment)}: dapr.io/app-id {app_id}, image {container['image']} "
                f"and the code's app_id {code_id} must all be {name}"
            )
    deployed = app_ids(objects)
    problems += [f"no Dapr-enabled Deployment for {s}" for s in sorted(set(SERVICES) - deployed)]
    if deployed != dapr_yaml_app_ids():
        problems.append(f"app ids {sorted(deployed)} differ from dapr.yaml's")
    problems += [
        f"order-processor invokes app id {t}, which no Deployment has"
        for t in sorted(called_app_ids(objects) - deployed)
    ]
    return problems


def configuration_problems(objects: list[Obj]) -> list[str]:
    """dapr.io/config names an existing Configuration, one per app; access control lets only
    order-processor invoke the apps it calls, and nothing else through."""
    problems = []
    configs = {c["metadata"]["name"]: c for c in of_kind(objects, "Configuration")}
    users: dict[str, list[str]] = {}
    callees = called_app_ids(objects)
    for deployment in dapr_apps(objects):
        annotations = pod_annotations(deployment)
        app_id, config_name = annotations.get("dapr.io/app-id"), annotations.get("dapr.io/config")
        if config_name not in configs:
            problems.append(f"{kind_name(deployment)}: dapr.io/config {config_name} not found")
            continue
        users.setdefault(str(config_name), []).append(str(app_id))
        acl = configs[str(config_name)]["spec"].get("accessControl") or {}
        if acl.get("defaultAction") != "deny":
            problems.append(f"Configuration/{config_name}: accessControl must deny by default")
        allowed = set()
        for policy in acl.get("policies") or []:
            if policy.get("namespace") != deployment["metadata"].get("namespace"):
                problems.append(
                    f"Configuration/{config_name}: policy for {policy.get('appId')} names "
                    f"namespace {policy.get('namespace')}, not the apps' namespace"
                )
            if policy.get("trustDomain") != acl.get("trustDomain"):
                problems.append(f"Configuration/{config_name}: policy trust domain differs")
            if policy.get("defaultAction") == "allow":
                allowed.add(policy.get("appId"))
        expected = {"order-processor"} if app_id in callees else set()
        if allowed != expected:
            problems.append(
                f"Configuration/{config_name}: lets {sorted(allowed)} invoke {app_id}; "
                f"the code needs exactly {sorted(expected)}"
            )
    for name, apps in users.items():
        if len(apps) > 1:
            problems.append(f"Configuration/{name} is shared by {apps}: one per app")
    problems += [f"Configuration/{n} is used by no app" for n in configs if n not in users]
    return problems


def scope_problems(objects: list[Obj]) -> list[str]:
    """Scopes name deployed app ids, and each store the code uses exists, scoped to its user."""
    problems = []
    deployed = app_ids(objects)
    for obj in objects:
        problems += [
            f"{kind_name(obj)}: scope {s} is no deployed app id"
            for s in obj.get("scopes") or []
            if s not in deployed
        ]
    components = {c["metadata"]["name"]: c for c in of_kind(objects, "Component")}
    users = {"order-processor": _actor_stores(components)}
    for name in ("inventory", "payment"):
        deployment = next(d for d in dapr_apps(objects) if d["metadata"]["name"] == name)
        app_settings = settings(name, container_env(app_container(deployment)))
        store = cast(InventorySettings | PaymentSettings, app_settings).state_store
        users[name] = [store] if store in components else []
        if store not in components:
            problems.append(f"{name} uses state store {store}, which no Component defines")
    for app_id, stores in users.items():
        if len(stores) != 1:
            problems.append(f"{app_id} needs exactly one state store Component, has {stores}")
        for store in stores:
            component = components[store]
            if not str(component["spec"]["type"]).startswith("state."):
                problems.append(f"Component/{store} is not a state store")
            if component.get("scopes") != [app_id]:
                problems.append(f"Component/{store} must be scoped to {app_id} alone")
    return problems


def _actor_stores(components: dict[str, Obj]) -> list[str]:
    return [
        name
        for name, c in components.items()
        if any(
            m.get("name") == "actorStateStore" and m.get("value") == "true"
            for m in c["spec"].get("metadata") or []
        )
    ]


def annotation_problems(objects: list[Obj], known: set[str]) -> list[str]:
    """Each app pod sets the Dapr annotations it needs, and only ones the injector knows."""
    problems = []
    for deployment in workloads(objects):
        annotations = pod_annotations(deployment)
        problems += [
            f"{kind_name(deployment)}: {key} is not a Dapr injector annotation"
            for key in annotations
            if key.startswith("dapr.io/") and key not in known
        ]
    for deployment in dapr_apps(objects):
        annotations = pod_annotations(deployment)
        problems += [
            f"{kind_name(deployment)}: missing annotation {key}"
            for key in REQUIRED_ANNOTATIONS
            if key not in annotations
        ]
        if annotations.get("dapr.io/app-protocol") != "http":
            problems.append(f"{kind_name(deployment)}: the apps speak HTTP (dapr.io/app-protocol)")
    return problems


# --- ports, endpoints, probes -------------------------------------------------------------------


def service_target(objects: list[Obj], name: str, port: int) -> tuple[Obj, int] | str:
    """The workload and container port that Service ``name`` sends ``port`` to, or why not."""
    service = next((s for s in of_kind(objects, "Service") if s["metadata"]["name"] == name), None)
    if service is None:
        return f"no Service {name}"
    ports = [p for p in service["spec"].get("ports") or [] if p.get("port") == port]
    if not ports:
        return f"Service {name} has no port {port}"
    target = ports[0].get("targetPort", port)
    selector = service["spec"].get("selector") or {}
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"].get("labels") or {}
        if not selector or not selector.items() <= labels.items():
            continue
        for container in pod_spec(workload)["containers"]:
            for p in container.get("ports") or []:
                if target in (p.get("containerPort"), p.get("name")):
                    return workload, int(p["containerPort"])
    return f"Service {name} port {port} targets {target}, which no selected container exposes"


def host_target(objects: list[Obj], host: str, port: int) -> tuple[Obj, int] | str:
    """Resolve an in-cluster DNS name (svc, svc.ns, svc.ns.svc[.cluster.local]) as a pod would."""
    namespace = namespace_of(objects)
    parts = host.split(".")
    suffixes: list[list[str]] = [
        [],
        [namespace],
        [namespace, "svc"],
        [namespace, "svc", "cluster", "local"],
    ]
    if parts[1:] not in suffixes:
        return f"{host} is not a Service name in namespace {namespace}"
    return service_target(objects, parts[0], port)


def port_problems(objects: list[Obj]) -> list[str]:
    """dapr.io/app-port = container port = gunicorn's bind = the Dockerfile's EXPOSE = the
    code's app_port, and the app's Service sends port 80 there."""
    problems = []
    for deployment in dapr_apps(objects):
        name = deployment["metadata"]["name"]
        container = app_container(deployment)
        env = container_env(container)
        annotation = str(pod_annotations(deployment).get("dapr.io/app-port"))
        ports = {
            "dapr.io/app-port": int(annotation) if annotation.isdigit() else annotation,
            "containerPort": [p["containerPort"] for p in container.get("ports") or []],
            "gunicorn bind": bind_port(gunicorn_config(name, env)),
            "Dockerfile EXPOSE": image_facts(name).expose,
            "Settings.app_port": settings(name, env).app_port,
        }
        port = ports["gunicorn bind"]
        if any(v not in (port, [port]) for v in ports.values()):
            problems.append(f"{kind_name(deployment)}: ports disagree: {ports}")
        target = service_target(objects, name, 80)
        if isinstance(target, str):
            problems.append(target)
        elif target != (deployment, port):
            problems.append(f"Service {name} port 80 does not reach {name}'s port {port}")
    return problems


def shutdown_problems(objects: list[Obj]) -> list[str]:
    """Kubernetes waits longer than gunicorn's graceful_timeout before it kills a pod, so the
    requests in flight finish."""
    problems = []
    for deployment in dapr_apps(objects):
        name = deployment["metadata"]["name"]
        grace = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        graceful = gunicorn_config(name, plain_env(app_container(deployment))).graceful_timeout
        if grace <= graceful:
            problems.append(
                f"{kind_name(deployment)}: terminationGracePeriodSeconds {grace} must exceed "
                f"gunicorn's graceful_timeout {graceful}"
            )
    return problems


def endpoint_problems(objects: list[Obj]) -> list[str]:
    """Zipkin endpoints (each Configuration's, each app's ZIPKIN_ENDPOINT) and each PostgreSQL
    state store's host and port resolve to the in-cluster Zipkin and PostgreSQL Services, and
    through them to a pod running that image."""
    problems = []
    for config in of_kind(objects, "Configuration"):
        tracing = config["spec"].get("tracing") or {}
        if tracing.get("samplingRate") != "1":
            problems.append(f'{kind_name(config)}: tracing.samplingRate must be "1"')
        endpoint = (tracing.get("zipkin") or {}).get("endpointAddress", "")
        problems += _zipkin_problems(objects, kind_name(config), endpoint)
    for deployment in dapr_apps(objects):
        endpoint = plain_env(app_container(deployment)).get("ZIPKIN_ENDPOINT")
        if endpoint is not None:
            problems += _zipkin_problems(objects, kind_name(deployment), endpoint)
    for component in postgres_components(objects):
        host, port = postgres_address(component)
        problems += _target_problems(objects, kind_name(component), host, port, "postgres:")
    return problems


def postgres_components(objects: list[Obj]) -> list[Obj]:
    return [c for c in of_kind(objects, "Component") if c["spec"].get("type") == "state.postgresql"]


def component_fields(component: Obj) -> dict[str, str | tuple[str, str]]:
    """A Component's metadata by name: the value, or its secretKeyRef as (Secret, key)."""
    fields: dict[str, str | tuple[str, str]] = {}
    for item in component["spec"].get("metadata") or []:
        ref = item.get("secretKeyRef")
        fields[item["name"]] = (ref["name"], ref["key"]) if ref else str(item.get("value", ""))
    return fields


def postgres_address(component: Obj) -> tuple[str, int]:
    """Where a state.postgresql Component connects: its host and port fields, which win over
    the connectionString's (components-contrib's pgauth merges them so), port 5432 by default."""
    fields = component_fields(component)
    dsn = str(fields.get("connectionString", "")).split()
    given = dict(word.split("=", 1) for word in dsn if "=" in word)
    host, port = str(fields.get("host") or given.get("host", "")), fields.get("port")
    port = str(port or given.get("port", "5432"))
    return host, int(port) if port.isdigit() else 0


def _zipkin_problems(objects: list[Obj], where: str, endpoint: str) -> list[str]:
    url = urlsplit(endpoint)
    if url.scheme != "http" or url.path != "/api/v2/spans" or not url.hostname:
        return [f"{where}: Zipkin endpoint {endpoint!r} is not http://<host>:<port>/api/v2/spans"]
    return _target_problems(objects, where, url.hostname, url.port or 80, "openzipkin/zipkin:")


def _target_problems(objects: list[Obj], where: str, host: str, port: int, image: str) -> list[str]:
    target = host_target(objects, host, port)
    if isinstance(target, str):
        return [f"{where}: {host}:{port}: {target}"]
    images = [c["image"] for c in pod_spec(target[0])["containers"]]
    if not any(i.startswith(image) for i in images):
        return [f"{where}: {host}:{port} reaches {images}, not {image}*"]
    return []


def probe_problems(objects: list[Obj]) -> list[str]:
    """Readiness /readyz, liveness /healthz, on the app's port; every probed path (the
    sidecar's app health check too) is a GET route of the app create_app() builds, and the
    kubelet's probes get through without the token only the sidecar has."""
    problems = []
    for deployment in dapr_apps(objects):
        name = deployment["metadata"]["name"]
        container = app_container(deployment)
        names = {p.get("name") for p in container.get("ports") or []}
        numbers = {p.get("containerPort") for p in container.get("ports") or []}
        paths = {}
        for kind, wanted in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            http = (container.get(kind) or {}).get("httpGet")
            if not http or http.get("path") != wanted:
                problems.append(f"{kind_name(deployment)}: {kind} must GET {wanted}")
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            http = (container.get(kind) or {}).get("httpGet")
            if http:
                paths[kind] = http.get("path")
                if http.get("port") not in names | numbers:
                    problems.append(f"{kind_name(deployment)}: {kind} port is not the app's")
        health = pod_annotations(deployment).get("dapr.io/app-health-check-path")
        if health is not None:
            paths["dapr.io/app-health-check-path"] = health
        routes = app(name).url_map.bind("localhost")
        kubelet = app(name, app_token="only-the-sidecar-has-it").test_client()
        for kind, path in paths.items():
            try:
                routes.match(str(path), method="GET")
            except HTTPException:
                problems.append(f"{kind_name(deployment)}: {kind} {path} is no GET route of {name}")
                continue
            if kind.endswith("Probe") and kubelet.get(str(path)).status_code == 401:
                problems.append(
                    f"{kind_name(deployment)}: {kind} {path} wants the app token, "
                    "which kubelet does not send"
                )
    return problems


# --- the pods themselves --------------------------------------------------------------------


def security_problems(objects: list[Obj], writable_root: Iterable[str] = ()) -> list[str]:
    """Every pod, a Deployment's or a StatefulSet's, hardened: non-root, no privilege
    escalation, no capabilities, read-only root (but for ``writable_root``) with an emptyDir
    for /tmp, seccomp, resources, probes, its own ServiceAccount and no API token; the apps run
    as the image's user."""
    problems = []
    accounts = {a["metadata"]["name"] for a in of_kind(objects, "ServiceAccount")}
    for deployment in workloads(objects):
        where, spec = kind_name(deployment), pod_spec(deployment)
        pod = spec.get("securityContext") or {}
        expected_pod = {
            "runAsNonRoot": pod.get("runAsNonRoot") is True,
            "runAsUser (non-zero)": bool(pod.get("runAsUser")),
            "seccompProfile RuntimeDefault": (pod.get("seccompProfile") or {}).get("type")
            == "RuntimeDefault",
            "automountServiceAccountToken false": spec.get("automountServiceAccountToken") is False,
            "enableServiceLinks false": spec.get("enableServiceLinks") is False,
            "its own ServiceAccount": spec.get("serviceAccountName") in accounts,
        }
        problems += [f"{where}: needs {what}" for what, ok in expected_pod.items() if not ok]
        problems += _sidecar_token_problems(deployment)
        name = deployment["metadata"]["name"]
        if name in SERVICES and pod.get("runAsUser") != image_facts(name).uid:
            problems.append(f"{where}: runAsUser is not the image's USER {image_facts(name).uid}")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for container in spec["containers"]:
            problems += [
                f"{where}: container {container['name']}: needs {what}"
                for what in _container_gaps(container, volumes, name in writable_root)
            ]
    return problems


def _sidecar_token_problems(deployment: Obj) -> list[str]:
    """A sidecar in a pod without the API token must not load its built-in Kubernetes secret
    store: that store needs the token, fails to start without it, and daprd exits (every pod
    crash-looped on a real cluster while this file only checked that the token was off)."""
    annotations = pod_annotations(deployment)
    if str(annotations.get("dapr.io/enabled")).lower() != "true":
        return []
    if pod_spec(deployment).get("automountServiceAccountToken") is not False:
        return []
    if str(annotations.get("dapr.io/disable-builtin-k8s-secret-store")).lower() == "true":
        return []
    return [
        f"{kind_name(deployment)}: no API token in the pod, so it needs the annotation "
        'dapr.io/disable-builtin-k8s-secret-store: "true" (daprd exits otherwise)'
    ]


def _container_gaps(container: Obj, volumes: dict[str, Obj], writable_root: bool) -> list[str]:
    sc = container.get("securityContext") or {}
    resources_ = container.get("resources") or {}
    expected = {
        "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
        "capabilities.drop [ALL]": "ALL" in ((sc.get("capabilities") or {}).get("drop") or []),
        f"readOnlyRootFilesystem {not writable_root}": sc.get("readOnlyRootFilesystem")
        is (not writable_root),
        "cpu and memory requests and limits": all(
            k in (resources_.get(scope) or {})
            for scope in ("requests", "limits")
            for k in ("cpu", "memory")
        ),
        "a readinessProbe and a livenessProbe": "readinessProbe" in container
        and "livenessProbe" in container,
        "a writable emptyDir for /tmp or /data": any(
            m.get("mountPath") in ("/tmp", "/data") and "emptyDir" in volumes.get(m.get("name"), {})
            for m in container.get("volumeMounts") or []
        ),
    }
    return [what for what, ok in expected.items() if not ok]


def env_problems(objects: list[Obj]) -> list[str]:
    """Every variable an app's manifest sets is read by its Settings or its gunicorn.conf.py
    (with the shared settings it imports), and its value parses."""
    problems = []
    for deployment in dapr_apps(objects):
        name = deployment["metadata"]["name"]
        container = app_container(deployment)
        fields = set(SERVICES[name].settings.model_fields)
        gunicorn = gunicorn_config_source(name)
        for var in container.get("env") or []:
            key = var["name"]
            if key.lower() not in fields and not re.search(rf"[\"']{key}[\"']", gunicorn):
                problems.append(
                    f"{kind_name(deployment)}: {key} is read by neither {name}'s Settings "
                    "nor its gunicorn.conf.py"
                )
        try:
            settings(name, container_env(container))
        except ValidationError as err:
            problems.append(f"{kind_name(deployment)}: env does not parse: {err}")
    return problems


def secret_problems(objects: list[Obj], config: Obj) -> list[str]:
    """Nothing secret is written down: no Secret objects, no literal secret-looking values (a
    password inside a connection string too); and every Secret the manifests use (a Component's
    secretKeyRef, a container's, a token annotation) is one skaffold's before-deploy hook
    creates, in their namespace: a Secret nobody makes leaves the pod or the sidecar waiting."""
    problems = []
    hooks = "\n".join(hook_commands(config))
    created = set(re.findall(r"ensure_secret (\S+) (\S+)", hooks))
    hook_namespace = re.search(r"\bns=(\S+)", hooks)
    if not hook_namespace or hook_namespace.group(1) != namespace_of(objects):
        problems.append("skaffold's before-deploy hook does not create the manifests' namespace")
    used: set[tuple[str, str]] = set()
    for obj in objects:
        where = kind_name(obj)
        if obj.get("kind") == "Secret":
            problems.append(f"{where}: Secrets are created by the hook, never committed")
        if obj.get("kind") == "Component":
            problems += _component_secret_problems(obj, used)
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        for key in ("dapr.io/api-token-secret", "dapr.io/app-token-secret"):
            if key in pod_annotations(obj):
                used.add((str(pod_annotations(obj)[key]), "token"))
        for container in containers(obj):
            problems += _container_secret_problems(where, container, used)
    problems += [
        f"Secret {name} (key {key}) is used but skaffold's before-deploy hook does not create it"
        for name, key in sorted(used - created)
    ]
    return problems


# A password written into a connection string: key=value or URL form.
LITERAL_PASSWORD = re.compile(r"(?i)\bpassword=|://[^/@\s]*:[^/@\s]*@")


def _component_secret_problems(component: Obj, used: set[tuple[str, str]]) -> list[str]:
    problems = []
    for item in component["spec"].get("metadata") or []:
        name, ref = str(item.get("name")), item.get("secretKeyRef")
        if ref and "value" not in item:
            used.add((ref["name"], ref["key"]))
        elif SECRETISH.search(name):
            problems.append(f"{kind_name(component)}: {name} must come from a secretKeyRef")
        elif LITERAL_PASSWORD.search(str(item.get("value", ""))):
            problems.append(f"{kind_name(component)}: {name} holds a literal password")
    return problems


def _container_secret_problems(where: str, container: Obj, used: set[tuple[str, str]]) -> list[str]:
    problems = []
    for var in container.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            used.add((ref["name"], ref["key"]))
        elif SECRETISH.search(var["name"]):
            problems.append(f"{where}: env {var['name']} must come from a secretKeyRef")
    words = (container.get("command") or []) + (container.get("args") or [])
    for flag, value in pairwise([*words, ""]):
        if flag.startswith("--") and SECRETISH.search(flag) and not value.startswith("$("):
            problems.append(f"{where}: {flag} takes a literal value; use $(VAR) from a Secret")
    return problems


def resiliency_problems(objects: list[Obj]) -> list[str]:
    """Each app order-processor calls has a timeout, bounded retries of 429/5xx only and a
    circuit breaker, all defined; and the sidecar's worst case fits in the client's timeout."""
    problems = []
    deployed = app_ids(objects)
    covered: set[str] = set()
    for policy in of_kind(objects, "Resiliency"):
        where, spec = kind_name(policy), policy["spec"]
        policies = spec.get("policies") or {}
        callers = policy.get("scopes") or []
        if callers != ["order-processor"]:
            problems.append(f"{where}: must be scoped to order-processor, the only caller")
        for target, refs in ((spec.get("targets") or {}).get("apps") or {}).items():
            if target not in deployed:
                problems.append(f"{where}: target {target} is no deployed app id")
            covered.add(target)
            for ref, section in REFS:
                if refs.get(ref) not in (policies.get(section) or {}):
                    problems.append(f"{where}: {target}'s {ref} names no policy in {section}")
            if all(refs.get(r) in (policies.get(s) or {}) for r, s in REFS):
                problems += _worst_case_problems(objects, where, policies, refs)
    problems += [
        f"no Resiliency target for {t}, which order-processor calls"
        for t in sorted(called_app_ids(objects) - covered)
    ]
    return problems


def _worst_case_problems(objects: list[Obj], where: str, policies: Obj, refs: Obj) -> list[str]:
    timeout = go_duration(policies["timeouts"][refs["timeout"]])
    retry = policies["retries"][refs["retry"]]
    retries = int(retry.get("maxRetries", -1))
    codes = (retry.get("matching") or {}).get("httpStatusCodes", "")
    if retries < 0 or retry.get("policy") != "constant":
        return [f"{where}: retries must be constant and bounded (maxRetries)"]
    if not codes or any(not re.fullmatch(r"(429|5\d\d(-5\d\d)?)", c) for c in codes.split(",")):
        return [f"{where}: retry only 429 and 5xx (matching.httpStatusCodes), not {codes!r}"]
    worst = timeout * (retries + 1) + go_duration(retry["duration"]) * retries
    order = next(d for d in dapr_apps(objects) if d["metadata"]["name"] == "order-processor")
    client = settings("order-processor", container_env(app_container(order))).invoke_timeout_seconds
    if worst >= client:
        return [
            f"{where}: the sidecar may retry for {worst:g} s, but order-processor's client "
            f"gives up after {client:g} s (INVOKE_TIMEOUT_SECONDS)"
        ]
    return []


def go_duration(text: str) -> float:
    """Seconds in a Go duration such as ``2s`` or ``1m30s`` or ``500ms``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def order_problems(objects: list[Obj]) -> list[str]:
    """The Dapr resources come before the first app pod, so its sidecar finds them at start."""
    kinds = [o.get("kind") for o in objects]
    first_app = min((objects.index(d) for d in dapr_apps(objects)), default=len(objects))
    late = [kind_name(o) for o in objects[first_app:] if o.get("kind") in DAPR_KINDS]
    return [f"{name} comes after the first Dapr app in {kinds}" for name in late]


# --- where state lives: PostgreSQL, its volume, its roles ----------------------------------------

# The official image, pinned to a minor release (a major-only tag such as 15 moves), optionally
# by digest too: the reference the local cluster's stand-in is built under.
PINNED_POSTGRES = re.compile(r"postgres:(\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]{64})?")
# What an image reference names when it is the official postgres image, pinned or not.
POSTGRES_NAME = re.compile(r"(docker\.io/)?(library/)?postgres([:@].*)?")
# The settings that make a commit durable, and the values PostgreSQL reads as off.
DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")
OFF = frozenset({"off", "false", "no", "0"})
INIT_DIR = "/docker-entrypoint-initdb.d"


def postgres_containers(objects: list[Obj]) -> list[tuple[Obj, Obj]]:
    """(workload, container) for every container running the postgres image."""
    return [
        (w, c)
        for w in workloads(objects)
        for c in pod_spec(w)["containers"]
        if POSTGRES_NAME.fullmatch(str(c.get("image")))
    ]


def postgres_image_problems(objects: list[Obj]) -> list[str]:
    """The postgres image is pinned to a release: a moving tag (latest, none, a bare major)
    changes the server under the data directory it wrote, and the local stand-in could not be
    built under the same reference."""
    return [
        f"{kind_name(w)}: image {c['image']} is not pinned to a release (postgres:X.Y[-variant])"
        for w, c in postgres_containers(objects)
        if not PINNED_POSTGRES.fullmatch(str(c["image"]))
    ]


def local_postgres_image_problems(objects: list[Obj], script: str) -> list[str]:
    """scripts/cluster/images.sh builds the local cluster's stand-in under exactly the reference
    the manifests pin (as library/postgres, the path containerd's docker.io mirror asks for),
    with the tag read from the manifest so that the two cannot drift apart."""
    where = "scripts/cluster/images.sh"
    pinned = {
        m[1]
        for _, c in postgres_containers(objects)
        if (m := PINNED_POSTGRES.fullmatch(c["image"]))
    }
    line = re.search(r"^postgres_tag=.*$", script, re.M)
    if line is None or "deploy/k8s/" not in line[0]:
        return [f"{where}: must read the postgres tag from deploy/k8s (postgres_tag=...)"]
    tag = shell_assignment(script, "postgres_tag")
    problems = (
        [] if tag in pinned else [f"{where}: reads {tag!r}; the manifests pin {sorted(pinned)}"]
    )
    built = re.findall(r"library/postgres:([^\s\"]+)", script)
    if not built:
        problems.append(f"{where}: builds no library/postgres image")
    problems += [
        f"{where}: builds library/postgres:{b}, not library/postgres:$postgres_tag"
        for b in built
        if b not in ("$postgres_tag", "${postgres_tag}")
    ]
    return problems


def durability_problems(objects: list[Obj]) -> list[str]:
    """No postgres container turns off what makes a commit durable: with fsync,
    synchronous_commit or full_page_writes off, a crash loses or corrupts what Dapr was told is
    saved (an order's workflow state, a reservation, a charge)."""
    problems = []
    for workload, container in postgres_containers(objects):
        words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
        # postgres takes `-c name=value`, `-cname=value` and `--name=value`.
        options = [value for flag, value in pairwise(words) if flag == "-c"]
        options += [w[2:] for w in words if w.startswith("-c") and w != "-c"]
        options += [w[2:] for w in words if w.startswith("--")]
        for setting in options:
            name, _, given = setting.partition("=")
            if name.replace("-", "_") in DURABILITY and given.strip().lower() in OFF:
                problems.append(f"{kind_name(workload)}: {setting} loses committed data")
    return problems


def storage_problems(objects: list[Obj]) -> list[str]:
    """Every PersistentVolumeClaim (standalone or a StatefulSet's template) can be provisioned:
    no storageClassName (the cluster's default) or a named one, never "" (which binds only a
    volume made by hand, so the pod stays Pending); and PostgreSQL's data directory (PGDATA)
    lies on such a claim, not on an emptyDir or the container's root, which go with the pod."""
    problems = []
    claims = [(kind_name(c), c) for c in of_kind(objects, "PersistentVolumeClaim")]
    for workload in of_kind(objects, "StatefulSet"):
        claims += [
            (f"{kind_name(workload)}: volumeClaimTemplate {t['metadata']['name']}", t)
            for t in workload["spec"].get("volumeClaimTemplates") or []
        ]
    problems += [
        f'{where}: storageClassName "" binds only a volume made by hand; name a class or none'
        for where, claim in claims
        if claim["spec"].get("storageClassName") == ""
    ]
    for workload, container in postgres_containers(objects):
        pgdata = plain_env(container).get("PGDATA", "/var/lib/postgresql/data")
        mount = _mount_of(container, pgdata)
        where = f"{kind_name(workload)}: PGDATA {pgdata}"
        if mount is None:
            problems.append(f"{where} is on no volume: the data goes with the container")
        elif not _persists(workload, mount):
            problems.append(f"{where} is on volume {mount}, which is no PersistentVolumeClaim")
    return problems


def _mount_of(container: Obj, path: str) -> str | None:
    """The volume holding ``path`` in the container: the deepest mount at or above it."""
    mounts = [
        m
        for m in container.get("volumeMounts") or []
        if f"{path}/".startswith(f"{str(m['mountPath']).rstrip('/')}/")
    ]
    deepest = max(mounts, key=lambda m: len(m["mountPath"]), default=None)
    return None if deepest is None else str(deepest["name"])


def _persists(workload: Obj, volume: str) -> bool:
    """Whether the pod's volume is a claim: a volumeClaimTemplate of that name (which wins over
    a pod volume of the same name) or a persistentVolumeClaim volume."""
    templates = workload["spec"].get("volumeClaimTemplates") or []
    if any(t["metadata"]["name"] == volume for t in templates):
        return True
    return any(
        v["name"] == volume and "persistentVolumeClaim" in v
        for v in pod_spec(workload).get("volumes") or []
    )


def role_problems(objects: list[Obj]) -> list[str]:
    """Each app's credentials reach only its own data. Every state.postgresql Component logs in
    as the role named like its database; no two share a role, a database or a password Secret;
    each serves one app; its password Secret is the one the server gives that role
    (<ROLE>_PASSWORD); and the server's init script creates the role, its database owned by it,
    and revokes PUBLIC's access to that database (by default any role may connect to any)."""
    problems = []
    seen: dict[str, dict[object, str]] = {"user": {}, "database": {}, "password Secret": {}}
    for component in postgres_components(objects):
        where, fields = kind_name(component), component_fields(component)
        user, database, secret = fields.get("user"), fields.get("database"), fields.get("password")
        secret_name = secret[0] if isinstance(secret, tuple) else None
        if not user or user != database:
            problems.append(f"{where}: user {user} must be its database {database}")
        scopes = component.get("scopes") or []
        if len(scopes) != 1:
            problems.append(f"{where}: scoped to {scopes}; a role's store serves one app")
        for what, value in (
            ("user", user),
            ("database", database),
            ("password Secret", secret_name),
        ):
            if value in seen[what]:
                problems.append(f"{where}: {what} {value} is {seen[what][value]}'s too")
            seen[what].setdefault(value, where)
        server = _postgres_server(objects, component)
        if server is None or not isinstance(user, str):
            continue  # endpoint_problems and the user check above say why
        workload, container = server
        variable = f"{user.upper()}_PASSWORD"  # what the init script reads (psql getenv)
        given = _env_secrets(container, variable)
        if given != [secret]:
            problems.append(
                f"{where}: its password is Secret {secret_name}, but {kind_name(workload)} gives "
                f"role {user} {[name for name, _ in given]} ({variable})"
            )
        problems += [f"{where}: {gap}" for gap in _init_gaps(objects, workload, container, user)]
    return problems


def _env_secrets(container: Obj, variable: str) -> list[tuple[str, str]]:
    """The (Secret, key) each definition of ``variable`` in the container's env reads."""
    refs = [
        (var.get("valueFrom") or {}).get("secretKeyRef") or {}
        for var in container.get("env") or []
        if var["name"] == variable
    ]
    return [(str(r.get("name")), str(r.get("key"))) for r in refs]


def _postgres_server(objects: list[Obj], component: Obj) -> tuple[Obj, Obj] | None:
    """The workload and container the Component's host and port reach."""
    target = host_target(objects, *postgres_address(component))
    if isinstance(target, str):
        return None
    workload, port = target
    for container in pod_spec(workload)["containers"]:
        if port in [p.get("containerPort") for p in container.get("ports") or []]:
            return workload, container
    return None


def init_script(objects: list[Obj], workload: Obj, container: Obj) -> str:
    """The text of the scripts the container's ConfigMaps put in /docker-entrypoint-initdb.d,
    which the image runs once, on an empty data directory."""
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes") or []}
    maps = {m["metadata"]["name"]: m for m in of_kind(objects, "ConfigMap")}
    texts = []
    for mount in container.get("volumeMounts") or []:
        if str(mount["mountPath"]).rstrip("/") != INIT_DIR:
            continue
        name = (volumes.get(mount["name"], {}).get("configMap") or {}).get("name")
        data = (maps.get(str(name)) or {}).get("data") or {}
        texts += [str(data[key]) for key in sorted(data)]
    return "\n".join(texts)


def unrolled(script: str) -> str:
    """The script with each `for VAR in A B ...; do BODY done` loop written out once per
    name, the name put in for $VAR, ${VAR} and psql's :"VAR" and :'VAR'."""

    def expand(loop: re.Match[str]) -> str:
        var, names, body = loop[1], loop[2].split(), loop[3]
        uses = re.compile(rf"\$\{{{var}\}}|\${var}\b|:\"{var}\"|:'{var}'")
        return "\n".join(uses.sub(name, body) for name in names)

    loop = re.compile(r"^\s*for (\w+) in ([^;\n]*);\s*do\b(.*?)^\s*done\b", re.M | re.S)
    return loop.sub(expand, script)


def _init_gaps(objects: list[Obj], workload: Obj, container: Obj, role: str) -> list[str]:
    sql = unrolled(init_script(objects, workload, container))
    name = rf'"?{re.escape(role)}"?(?!\w)'
    wanted = {
        f"creates login role {role}": (
            rf"CREATE\s+USER\s+{name}|CREATE\s+ROLE\s+{name}[^;]*\bLOGIN\b"
        ),
        f"creates database {role} owned by it": (
            rf"CREATE\s+DATABASE\s+{name}[^;]*\bOWNER\s*=?\s*{name}"
        ),
        f"revokes PUBLIC's CONNECT on database {role}": (
            rf"REVOKE\s+(ALL(\s+PRIVILEGES)?|CONNECT)\s+ON\s+DATABASE\s+{name}\s+FROM\s+PUBLIC\b"
        ),
    }
    where = f"the init script of {kind_name(workload)}"
    return [f"{where} never {what}" for what, rx in wanted.items() if not re.search(rx, sql, re.I)]


# --- the local cluster --------------------------------------------------------------------------

# Dapr chart values that keep the scheduler's etcd or placement's Raft log in memory, so
# reminders, workflow timers and placement tables go with a restart of their pods.
IN_MEMORY = ("inMemoryStorage", "forceInMemoryLog")
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def dapr_values_problems(values: Obj, chart: Obj) -> list[str]:
    """deploy/local-cluster/dapr-values.yaml keeps the chart's persistent storage (nothing in
    memory), and sets only keys the chart has: Helm ignores a misspelt key without a word."""
    problems = []
    for path, value in _leaves(values):
        if path[-1] in IN_MEMORY and value in (True, "true"):
            problems.append(f"dapr-values.yaml: {'.'.join(path)}: true loses state on restart")
        node: Any = chart
        for key in path:
            if not isinstance(node, dict):
                break
            if key not in node:
                problems.append(f"dapr-values.yaml: {'.'.join(path)} is no value of the chart")
                break
            node = node[key]
    return problems


def _leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if not isinstance(node, dict) or not node:
        return [(path, node)]
    return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, str(key)))]


def storage_class_problems(objects: list[Obj]) -> list[str]:
    """local-path-storage.yaml makes exactly one default StorageClass: the claims that name no
    class (postgres's, Dapr's scheduler and placement) need one, and with two Kubernetes picks
    the newest."""
    defaults = [
        kind_name(c)
        for c in of_kind(objects, "StorageClass")
        if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"
    ]
    if len(defaults) != 1:
        return [f'expected exactly one StorageClass with {DEFAULT_CLASS}: "true", got {defaults}']
    return []


# --- images -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFacts:
    """What the Dockerfile, with a service's build args, says about the image it builds."""

    stages: list[Stage]
    base: str
    python: tuple[int, int, int]
    debian: str
    uid: int | None
    expose: list[int | str]  # a str: not a port number (an ARG nobody passed)
    venv: str

    @property
    def site_packages(self) -> str:
        return f"{self.venv}/lib/python{self.python[0]}.{self.python[1]}/site-packages"


BASE_IMAGE = re.compile(r"python:(\d+)\.(\d+)\.(\d+)-slim-([a-z]+)")


def image_facts(service: str, stages: list[Stage] | None = None) -> ImageFacts:
    stages = dockerfile(service) if stages is None else stages
    final = stages[-1]
    match = BASE_IMAGE.fullmatch(final.base)
    python = (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)
    user = (final.args("USER") or [""])[-1].split(":")[0]
    venv = next((c.dest for c in final.copies() if c.from_stage), "")
    return ImageFacts(
        stages=stages,
        base=final.base,
        python=python,
        debian=match[4] if match else "",
        uid=int(user) if user.isdigit() else None,
        expose=[_port(p.split("/")[0]) for e in final.args("EXPOSE") for p in e.split()],
        venv=venv,
    )


def _port(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def dockerfile_problems(service: str, stages: list[Stage], lock: Obj) -> list[str]:
    """Multi-stage from one pinned slim Python; the venv from the lock with this service and
    its workspace packages; a final stage with no build tools, a numeric non-root user,
    PYTHONUNBUFFERED, tar, and gunicorn in exec form on the local run's config file."""
    facts = image_facts(service, stages)
    where = f"services/Dockerfile for {service}"
    problems = []
    if not BASE_IMAGE.fullmatch(facts.base) or facts.debian not in DEBIAN_GLIBC:
        problems.append(f"{where}: base {facts.base} is not python:X.Y.Z-slim-<debian release>")
    if len(facts.stages) < 2 or any(s.base != facts.base for s in facts.stages):
        problems.append(f"{where}: needs a build stage on the same base as the final stage")
    if not SpecifierSet(requires_python()).contains(".".join(map(str, facts.python))):
        problems.append(f"{where}: Python {facts.python} is outside requires-python")
    build_runs = [r for s in facts.stages[:-1] for r in s.args("RUN")]
    if f"uv=={makefile_uv_version()}" not in " ".join(build_runs):
        problems.append(f"{where}: installs a uv other than the Makefile's {makefile_uv_version()}")
    commands = [c.split() for r in build_runs for c in re.split(r"&&|;|\|\|", r)]
    syncs = [c for c in commands if c[:2] == ["uv", "sync"]]
    wanted = ["--frozen", "--no-dev", "--no-editable", "--package", service]
    if not syncs or any(not set(wanted) <= set(tokens) for tokens in syncs):
        problems.append(f"{where}: every uv sync must be {' '.join(wanted)}")
    copied = {src.rstrip("/") for s in facts.stages[:-1] for c in s.copies() for src in c.sources}
    folders = workspace_folders(lock)
    problems += [
        f"{where}: the build stage never copies {f}/pyproject.toml (uv needs every member's)"
        for f in sorted(folders.values())
        if f"{f}/pyproject.toml" not in copied
    ]
    environment = _marker_environment(facts.python, "x86_64")
    for member in sorted(locked_closure(lock, service, environment) & set(folders)):
        if folders[member] not in copied:
            problems.append(f"{where}: the build stage never copies {folders[member]}/")
    return problems + _final_stage_problems(service, facts)


def _final_stage_problems(service: str, facts: ImageFacts) -> list[str]:
    where = f"services/Dockerfile for {service}"
    final = facts.stages[-1]
    problems = []
    tools = re.compile(r"\b(pip|uv|apt-get|apt|gcc|make)\b")
    problems += [f"{where}: final stage runs {r!r}" for r in final.args("RUN") if tools.search(r)]
    if re.search(r"\btar\b", " ".join(final.args("RUN"))):
        problems.append(f"{where}: final stage touches tar, which skaffold's file sync needs")
    if final.env().get("PYTHONUNBUFFERED") != "1":
        problems.append(f"{where}: final stage needs PYTHONUNBUFFERED=1")
    if not facts.uid:
        problems.append(f"{where}: USER must be a numeric non-root uid")
    commands = final.args("CMD") + final.args("ENTRYPOINT")
    if len(commands) != 1 or _json_list(commands[0]) != IMAGE_COMMAND:
        problems.append(f"{where}: the command must be exactly CMD {IMAGE_COMMAND} (exec form)")
    venv_copies = [c for c in final.copies() if c.from_stage]
    if not venv_copies or any(c.sources != [c.dest] for c in venv_copies):
        problems.append(f"{where}: the venv must keep its path from the build stage")
    config = f"services/{service}/gunicorn.conf.py"
    if not any(
        c.sources == [config] and c.dest in ("./", "gunicorn.conf.py") for c in final.copies()
    ):
        problems.append(f"{where}: {config} must be copied into the WORKDIR")
    return problems


def _json_list(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _marker_environment(python: tuple[int, int, int], machine: str) -> dict[str, str]:
    return {
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "python_version": f"{python[0]}.{python[1]}",
        "python_full_version": ".".join(map(str, python)),
    }


def wheel_problems(service: str, lock: Obj, facts: ImageFacts) -> list[str]:
    """Every locked package the service needs has a wheel for the image's CPython on
    x86_64 and aarch64 glibc: the image builds without a compiler, on Intel and Apple hosts."""
    problems = []
    packages = {p["name"]: p for p in lock["package"]}
    folders = workspace_folders(lock)
    major, minor = facts.python[:2]
    glibc = DEBIAN_GLIBC.get(facts.debian, 0)
    for machine in ARCHITECTURES:
        platforms = [f"manylinux_2_{m}_{machine}" for m in range(glibc, 16, -1)]
        platforms += [f"manylinux2014_{machine}"]
        supported = set(cpython_tags((major, minor), platforms=platforms))
        supported |= set(compatible_tags((major, minor), f"cp{major}{minor}", platforms))
        needed = locked_closure(lock, service, _marker_environment(facts.python, machine))
        for name in sorted(needed - set(folders)):
            wheels = packages[name].get("wheels") or []
            tags: set[Tag] = set()
            for wheel in wheels:
                tags |= set(parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3])
            if not tags & supported:
                problems.append(
                    f"{service}: {name} {packages[name]['version']} has no wheel for "
                    f"cp{major}{minor} {machine} glibc 2.{glibc}: the image would need a compiler"
                )
    return problems


# Never in a build context: caches, tests, local Dapr state, virtualenvs, VCS.
CONTEXT_LEAKS = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".dapr",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "tests",
    }
)


def context_problems(context: set[str], dockerfiles: dict[str, list[Stage]]) -> list[str]:
    """What .dockerignore lets into the build context holds every file the Dockerfile copies
    for each service (``dockerfiles``: its stages by service), and no caches, tests, local state
    or VCS."""
    leaks = sorted(f for f in context if CONTEXT_LEAKS & set(f.split("/")) or f.endswith(".pyc"))
    problems = [f"the build context includes {f}" for f in leaks[:5]]
    if len(leaks) > 5:
        problems.append(f"... and {len(leaks) - 5} more such files")
    for service, stages in dockerfiles.items():
        for stage in stages:
            for copy in stage.copies():
                for source in copy.sources if not copy.from_stage else []:
                    prefix = source.rstrip("/")
                    if prefix not in context and not any(
                        f.startswith(prefix + "/") for f in context
                    ):
                        problems.append(
                            f"services/Dockerfile for {service} copies {source}, "
                            "which .dockerignore keeps out of the build context"
                        )
    return problems


# --- skaffold.yaml against the rest -------------------------------------------------------------


def profile_problems(config: Obj) -> list[str]:
    """kind and minikube profiles activate on their contexts and never push; dev activates on
    `skaffold dev` and renders the dev overlay; every kustomize path exists."""
    problems = []
    for name, context in (("kind", "kind-kind"), ("minikube", "minikube")):
        try:
            found = profile(config, name)
        except KeyError as err:
            problems.append(str(err))
            continue
        patterns = [a["kubeContext"] for a in found.get("activation") or [] if "kubeContext" in a]
        if not any(re.fullmatch(p, context) for p in patterns):
            problems.append(f"profile {name} does not activate on kube context {context}")
        if ((found.get("build") or {}).get("local") or {}).get("push") is not False:
            problems.append(f"profile {name} must never push (build.local.push: false)")
    try:
        dev = profile(config, "dev")
    except KeyError as err:
        return [*problems, str(err)]
    if {"command": "dev"} not in (dev.get("activation") or []):
        problems.append("profile dev must activate on `skaffold dev`")
    paths = {
        "base": config["manifests"]["kustomize"]["paths"],
        "dev": dev["manifests"]["kustomize"]["paths"],
    }
    if paths != {"base": ["deploy/k8s/base"], "dev": ["deploy/k8s/overlays/dev"]}:
        problems.append(f"kustomize paths must be deploy/k8s/base and its dev overlay: {paths}")
    problems += [
        f"kustomize path {p} does not exist"
        for p in paths["base"] + paths["dev"]
        if not (ROOT / p / "kustomization.yaml").is_file()
    ]
    return problems


def sync_problems(config: Obj, base: list[Obj], dev: list[Obj], lock: Obj) -> list[str]:
    """`skaffold dev` reaches the running code: the dev artifacts are the base ones plus sync
    rules whose files exist and land where the image installed each module (its venv's
    site-packages), covering the service and every workspace package it uses; gunicorn
    reloads under the dev overlay and only there."""
    problems = []
    base_artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    dev_artifacts = {a["image"]: a for a in profile(config, "dev")["build"]["artifacts"]}
    if set(dev_artifacts) != set(base_artifacts):
        problems.append(
            f"dev artifacts {sorted(dev_artifacts)} differ from {sorted(base_artifacts)}"
        )
    folders = workspace_folders(lock)
    for image, artifact in dev_artifacts.items():
        if {k: v for k, v in artifact.items() if k != "sync"} != base_artifacts.get(image):
            problems.append(f"dev artifact {image} differs from the base one beyond its sync")
        if image not in SERVICES:
            continue
        facts = image_facts(image)
        members = locked_closure(lock, image, _marker_environment(facts.python, "x86_64"))
        needed = {pkg for m in members & set(folders) for pkg in _importable(folders[m])}
        covered: set[str] = set()
        rules = (artifact.get("sync") or {}).get("manual") or []
        for rule in rules:
            where = f"dev artifact {image}: sync {rule['src']}"
            if rule["dest"] != facts.site_packages:
                problems.append(f"{where}: dest must be the image's {facts.site_packages}")
            files = sorted(f.relative_to(ROOT).as_posix() for f in ROOT.glob(rule["src"]))
            if not files:
                problems.append(f"{where}: matches no file")
            strip = rule.get("strip", "")
            for file in files:
                landed = file.removeprefix(strip)
                if (landed == file and strip) or landed.split("/")[0] not in needed:
                    problems.append(f"{where}: {file} lands on {landed}, no module of the image")
                    break
                covered.add(landed.split("/")[0])
        problems += [
            f"dev artifact {image}: edits to {p} are not synced" for p in sorted(needed - covered)
        ]
    for objects, reload in ((base, False), (dev, True)):
        for deployment in dapr_apps(objects):
            name = deployment["metadata"]["name"]
            env = plain_env(app_container(deployment))
            if gunicorn_config(name, env).reload is not reload:
                overlay = "dev" if reload else "base"
                problems.append(
                    f"{overlay} {kind_name(deployment)}: gunicorn reload is not {reload}"
                )
    return problems


def _importable(folder: str) -> list[str]:
    return [p.name for p in (ROOT / folder).iterdir() if (p / "__init__.py").is_file()]


def port_forward_problems(config: Obj, objects: list[Obj]) -> list[str]:
    """The order API (Service port 80) on localhost:8080 and Zipkin on localhost:9411, each a
    port of a Service in the apps' namespace that reaches a container."""
    problems = []
    found = set()
    for forward in config.get("portForward") or []:
        name, port = forward.get("resourceName"), int(forward.get("port", 0))
        if str(forward.get("resourceType")).lower() != "service":
            problems.append(
                f"portForward {name}: forward the Service, not a {forward.get('resourceType')}"
            )
        if forward.get("namespace") != namespace_of(objects):
            problems.append(f"portForward {name}: namespace must be {namespace_of(objects)}")
        target = service_target(objects, str(name), port)
        if isinstance(target, str):
            problems.append(f"portForward {name}: {target}")
        found.add((name, port, forward.get("localPort")))
    wanted = {("order-processor", 80, 8080), ("zipkin", 9411, 9411)}
    problems += [
        f"portForward {w[0]}:{w[1]} -> localhost:{w[2]} is missing" for w in sorted(wanted - found)
    ]
    return problems
