"""Cross-references: what the code, the images, the manifests and skaffold.yaml say about each
other must agree, since a cluster would only find out at run time. Each check passes on the
base and the dev overlay, then fails on a copy broken the way a person would break it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from tests.deploy import checks
from tests.deploy.conftest import Broken
from tests.deploy.sources import BASE, ROOT, SERVICES, Obj

OVERLAYS = ["base", "dev"]
Check = Callable[[list[Obj]], list[str]]

# Checks that take only the rendered objects, by name.
OBJECT_CHECKS: dict[str, Check] = {
    "app ids": checks.app_id_problems,
    "ports": checks.port_problems,
    "shutdown": checks.shutdown_problems,
    "scopes": checks.scope_problems,
    "Configurations": checks.configuration_problems,
    "endpoints": checks.endpoint_problems,
    "probes": checks.probe_problems,
    "env": checks.env_problems,
    "resiliency": checks.resiliency_problems,
    "order": checks.order_problems,
}


@pytest.mark.parametrize("name", OVERLAYS)
@pytest.mark.parametrize("check", OBJECT_CHECKS)
def test_manifests_agree(request: pytest.FixtureRequest, name: str, check: str) -> None:
    objects: list[Obj] = request.getfixturevalue(name)
    assert OBJECT_CHECKS[check](objects) == []


OP = "base/order-processor.yaml"
INV = "base/inventory.yaml"
PAY = "base/payment.yaml"
COMPONENTS = "base/dapr-components.yaml"
CONFIGS = "base/dapr-configurations.yaml"
RESILIENCY = "base/dapr-resiliency.yaml"
POSTGRES = "base/postgres.yaml"
STARTUP = "startupProbe:\n            httpGet:\n              path: /inventory"
ZIPKIN = "http://zipkin.dapr-order-processing.svc.cluster.local:9411/api/v2/spans"


@pytest.mark.parametrize(
    ("check", "edit", "problem"),
    [
        pytest.param(
            "app ids",
            (INV, 'dapr.io/app-id: "inventory"', 'dapr.io/app-id: "inventory-svc"'),
            "dapr.io/app-id inventory-svc, image inventory and the code's app_id inventory",
            id="app-id-unlike-code",
        ),
        pytest.param(
            "app ids",
            (INV, 'dapr.io/app-id: "inventory"', 'dapr.io/app-id: "inventory-svc"'),
            "order-processor invokes app id inventory, which no Deployment has",
            id="invoked-app-id-missing",
        ),
        pytest.param(
            "ports",
            (PAY, 'dapr.io/app-port: "8082"', 'dapr.io/app-port: "8080"'),
            "Deployment/payment: ports disagree",
            id="wrong-app-port",
        ),
        pytest.param(
            "ports",
            (INV, "containerPort: 8081", "containerPort: 8091"),
            "Deployment/inventory: ports disagree",
            id="wrong-container-port",
        ),
        pytest.param(
            "ports",
            (OP, "      port: 80\n", "      port: 8080\n"),
            "Service order-processor has no port 80",
            id="service-port",
        ),
        pytest.param(
            "shutdown",
            (OP, "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30"),
            "terminationGracePeriodSeconds 30 must exceed gunicorn's graceful_timeout 30",
            id="killed-before-requests-finish",
        ),
        pytest.param(
            "scopes",
            (COMPONENTS, "  - order-processor", "  - order-processr"),
            "Component/workflowstore: scope order-processr is no deployed app id",
            id="unknown-scope",
        ),
        pytest.param(
            "scopes",
            (COMPONENTS, "name: paymentstore", "name: payments"),
            "payment uses state store paymentstore, which no Component defines",
            id="store-the-code-names",
        ),
        pytest.param(
            "scopes",
            (COMPONENTS, 'value: "true"', "value: true"),
            "order-processor needs exactly one state store Component, has []",
            id="actor-store-flag-not-a-string",
        ),
        pytest.param(
            "Configurations",
            (OP, 'dapr.io/config: "order-processor-config"', 'dapr.io/config: "orders-config"'),
            "Deployment/order-processor: dapr.io/config orders-config not found",
            id="config-not-found",
        ),
        pytest.param(
            "Configurations",
            (PAY, 'dapr.io/config: "payment-config"', 'dapr.io/config: "inventory-config"'),
            "Configuration/inventory-config is shared by",
            id="config-shared",
        ),
        pytest.param(
            "Configurations",
            (CONFIGS, "namespace: dapr-order-processing", "namespace: default"),
            "policy for order-processor names namespace default",
            id="acl-namespace",
        ),
        pytest.param(
            "Configurations",
            (CONFIGS, "    defaultAction: deny", "    defaultAction: allow"),
            "Configuration/order-processor-config: accessControl must deny by default",
            id="acl-default-allow",
        ),
        pytest.param(
            "Configurations",
            (CONFIGS, "      - appId: order-processor", "      - appId: payment"),
            "lets ['payment'] invoke inventory; the code needs exactly ['order-processor']",
            id="acl-wrong-caller",
        ),
        pytest.param(
            "endpoints",
            (CONFIGS, ZIPKIN, ZIPKIN.replace("9411", "9412")),
            "Configuration/order-processor-config: zipkin.dapr-order-processing.svc.cluster."
            "local:9412: Service zipkin has no port 9412",
            id="zipkin-port",
        ),
        pytest.param(
            "endpoints",
            (CONFIGS, ZIPKIN, ZIPKIN.replace("dapr-order-processing", "default")),
            "is not a Service name in namespace dapr-order-processing",
            id="zipkin-namespace",
        ),
        pytest.param(
            "endpoints",
            (INV, ZIPKIN, ZIPKIN.replace("zipkin.", "postgres.").replace(":9411", ":5432")),
            "reaches ['postgres:15.20-bookworm'], not openzipkin/zipkin:*",
            id="app-zipkin-endpoint",
        ),
        pytest.param(
            "endpoints",
            (COMPONENTS, 'value: "5432"', 'value: "5433"'),
            "Component/workflowstore: postgres.dapr-order-processing.svc.cluster.local:5433: "
            "Service postgres has no port 5433",
            id="postgres-port",
        ),
        pytest.param(
            "endpoints",
            (
                COMPONENTS,
                "value: postgres.dapr-order-processing.svc",
                "value: postgres.default.svc",
            ),
            "Component/workflowstore: postgres.default.svc.cluster.local:5432: postgres.default."
            "svc.cluster.local is not a Service name in namespace dapr-order-processing",
            id="postgres-host-namespace",
        ),
        pytest.param(
            "endpoints",
            (
                COMPONENTS,
                "value: postgres.dapr-order-processing",
                "value: zipkin.dapr-order-processing",
                COMPONENTS,
                'value: "5432"',
                'value: "9411"',
            ),
            "Component/workflowstore: zipkin.dapr-order-processing.svc.cluster.local:9411 reaches "
            "['openzipkin/zipkin:3.6.1'], not postgres:*",
            id="postgres-host-reaches-another-image",
        ),
        pytest.param(
            "probes",
            (INV, "path: /readyz", "path: /ready"),
            "Deployment/inventory: readinessProbe /ready is no GET route of inventory",
            id="readiness-path",
        ),
        pytest.param(
            "probes",
            (
                OP,
                'dapr.io/app-health-check-path: "/healthz"',
                'dapr.io/app-health-check-path: "/health"',
            ),
            "dapr.io/app-health-check-path /health is no GET route of order-processor",
            id="sidecar-health-path",
        ),
        pytest.param(
            "probes",
            (INV, STARTUP.replace("/inventory", "/healthz"), STARTUP),
            "Deployment/inventory: startupProbe /inventory wants the app token",
            id="probe-behind-the-app-token",
        ),
        pytest.param(
            "probes",
            (PAY, "port: http\n", "port: metrics\n"),
            "Deployment/payment: readinessProbe port is not the app's",
            id="probe-port",
        ),
        pytest.param(
            "env",
            (OP, "- name: INVOKE_TIMEOUT_SECONDS", "- name: INVOKE_TIMEOUT_SECS"),
            "INVOKE_TIMEOUT_SECS is read by neither order-processor's Settings",
            id="unknown-variable",
        ),
        pytest.param(
            "env",
            (PAY, "value: INFO", "value: LOUD"),
            "Deployment/payment: env does not parse",
            id="bad-value",
        ),
        pytest.param(
            "resiliency",
            (OP, 'value: "10"', 'value: "5"'),
            "the sidecar may retry for 7 s, but order-processor's client gives up after 5 s",
            id="client-gives-up-first",
        ),
        pytest.param(
            "resiliency",
            (RESILIENCY, "retry: appRetry", "retry: fastRetry"),
            "inventory's retry names no policy in retries",
            id="missing-policy",
        ),
        pytest.param(
            "resiliency",
            (RESILIENCY, '"429,500-599"', '"400-599"'),
            "retry only 429 and 5xx",
            id="retries-business-4xx",
        ),
        pytest.param(
            "resiliency",
            (RESILIENCY, "      payment:\n", "      payments:\n"),
            "no Resiliency target for payment, which order-processor calls",
            id="untargeted-app",
        ),
        pytest.param(
            "order",
            ("base/kustomization.yaml", "sortOptions:\n  order: fifo\n", ""),
            "Component/workflowstore comes after the first Dapr app",
            id="dapr-resources-after-apps",
        ),
    ],
)
def test_cross_reference_fails_on(
    broken: Broken, check: str, edit: tuple[str, ...], problem: str
) -> None:
    problems = OBJECT_CHECKS[check](broken(*edit))
    assert any(problem in p for p in problems), problems


def test_dev_overlay_keeps_the_dapr_resources_first(broken: Broken) -> None:
    """An overlay sorts by kind unless it says otherwise: the order check catches that too."""
    edit = ("overlays/dev/kustomization.yaml", "sortOptions:\n  order: fifo\n", "")
    assert checks.order_problems(broken(*edit, overlay="dev"))


@pytest.mark.parametrize("name", OVERLAYS)
def test_images_are_skaffold_artifacts_and_vice_versa(
    request: pytest.FixtureRequest, name: str, skaffold_config: Obj
) -> None:
    objects: list[Obj] = request.getfixturevalue(name)
    assert checks.image_problems(objects, skaffold_config) == []


def test_image_check_fails_on_an_artifact_no_manifest_uses(
    base: list[Obj], skaffold_with: Callable[[str, str], Obj]
) -> None:
    problems = checks.image_problems(base, skaffold_with("- image: payment", "- image: payments"))
    assert "skaffold artifact payments is used by no manifest" in problems
    assert any("image payment is neither a skaffold artifact" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "          SERVICE: payment\n",
            "          SERVICE: inventory\n",
            "skaffold artifact payment: passes SERVICE=inventory; it must pass SERVICE=payment",
            id="another-service",
        ),
        pytest.param(
            "              SERVICE: payment\n",
            "              SERVICE: inventory\n",
            "profile dev: skaffold artifact payment: passes SERVICE=inventory; it must pass "
            "SERVICE=payment",
            id="another-service-in-a-profile",
        ),
        pytest.param(
            "          SERVICE: order-processor\n",
            "",
            "skaffold artifact order-processor: passes no SERVICE; it must pass "
            "SERVICE=order-processor",
            id="no-service",
        ),
        pytest.param(
            "        dockerfile: services/Dockerfile\n",
            "        dockerfile: services/order-processor/Dockerfile\n",
            "skaffold artifact order-processor: build context must be the repo root and the "
            "Dockerfile services/Dockerfile, not . and services/order-processor/Dockerfile",
            id="a-dockerfile-of-its-own",
        ),
    ],
)
def test_image_check_fails_on_an_artifact_that_builds_another_service(
    base: list[Obj], skaffold_with: Callable[[str, str], Obj], old: str, new: str, problem: str
) -> None:
    problems = checks.image_problems(base, skaffold_with(old, new))
    assert problem in problems, problems


def test_image_check_fails_on_an_unpinned_third_party_image(
    broken: Broken, skaffold_config: Obj
) -> None:
    objects = broken("base/zipkin.yaml", "openzipkin/zipkin:3.6.1", "openzipkin/zipkin:latest")
    problems = checks.image_problems(objects, skaffold_config)
    assert any("openzipkin/zipkin:latest is neither" in p for p in problems), problems


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_dapr_annotation_is_known_to_the_injector(
    request: pytest.FixtureRequest, name: str, injector_annotations: set[str]
) -> None:
    objects: list[Obj] = request.getfixturevalue(name)
    assert checks.annotation_problems(objects, injector_annotations) == []


def test_annotation_check_fails_on_a_typo(broken: Broken, injector_annotations: set[str]) -> None:
    objects = broken(INV, 'dapr.io/app-protocol: "http"', 'dapr.io/app-protocl: "http"')
    problems = checks.annotation_problems(objects, injector_annotations)
    assert "Deployment/inventory: dapr.io/app-protocl is not a Dapr injector annotation" in problems
    assert "Deployment/inventory: missing annotation dapr.io/app-protocol" in problems


@pytest.mark.parametrize("name", OVERLAYS)
def test_nothing_secret_is_written_down(
    request: pytest.FixtureRequest, name: str, skaffold_config: Obj
) -> None:
    objects: list[Obj] = request.getfixturevalue(name)
    assert checks.secret_problems(objects, skaffold_config) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(
            (
                COMPONENTS,
                "      secretKeyRef:\n        name: postgres-order-processor\n"
                "        key: password\n",
                "      value: hunter2\n",
            ),
            "Component/workflowstore: password must come from a secretKeyRef",
            id="plaintext-component-password",
        ),
        pytest.param(
            (COMPONENTS, '"sslmode=disable connect_timeout=10"', '"sslmode=disable password=x"'),
            "Component/workflowstore: connectionString holds a literal password",
            id="password-in-a-connection-string",
        ),
        pytest.param(
            (
                PAY,
                "              valueFrom:\n                secretKeyRef:\n"
                "                  name: app-api-token\n                  key: token\n",
                "              value: hunter2\n",
            ),
            "Deployment/payment: env APP_API_TOKEN must come from a secretKeyRef",
            id="plaintext-env-token",
        ),
        pytest.param(
            (
                POSTGRES,
                "            - postgres\n",
                "            - postgres\n            - --password\n            - hunter2\n",
            ),
            "StatefulSet/postgres: --password takes a literal value; use $(VAR) from a Secret",
            id="plaintext-argument",
        ),
        pytest.param(
            (OP, 'dapr.io/api-token-secret: "dapr-api-token"', 'dapr.io/api-token-secret: "t"'),
            "Secret t (key token) is used but skaffold's before-deploy hook does not create it",
            id="secret-nobody-creates",
        ),
        pytest.param(
            (COMPONENTS, "name: postgres-payment\n", "name: postgres-payments\n"),
            "Secret postgres-payments (key password) is used but skaffold's before-deploy hook",
            id="component-secret-nobody-creates",
        ),
        pytest.param(
            (
                COMPONENTS,
                "    - name: user\n      value: inventory\n",
                "    - name: user\n      secretKeyRef:\n        name: inventory-user\n"
                "        key: user\n",
            ),
            "Secret inventory-user (key user) is used but skaffold's before-deploy hook",
            id="any-component-field-from-a-secret-nobody-creates",
        ),
        pytest.param(
            (POSTGRES, "name: postgres-inventory\n", "name: postgres-inventroy\n"),
            "Secret postgres-inventroy (key password) is used but skaffold's before-deploy hook",
            id="statefulset-env-secret-nobody-creates",
        ),
    ],
)
def test_secret_check_fails_on(
    broken: Broken, skaffold_config: Obj, edit: tuple[str, str, str], problem: str
) -> None:
    problems = checks.secret_problems(broken(*edit), skaffold_config)
    assert any(problem in p for p in problems), problems


def test_secret_check_fails_when_the_hook_forgets_a_secret(
    base: list[Obj], skaffold_with: Callable[[str, str], Obj]
) -> None:
    config = skaffold_with("                ensure_secret postgres-payment password\n", "")
    assert (
        "Secret postgres-payment (key password) is used but skaffold's before-deploy hook does "
        "not create it"
    ) in checks.secret_problems(base, config)


def test_secret_check_fails_on_a_hook_for_another_namespace(
    base: list[Obj], skaffold_with: Callable[[str, str], Obj]
) -> None:
    config = skaffold_with("ns=dapr-order-processing", "ns=default")
    assert "skaffold's before-deploy hook does not create the manifests' namespace" in (
        checks.secret_problems(base, config)
    )


def test_every_pod_is_hardened(base: list[Obj], dev: list[Obj]) -> None:
    assert checks.security_problems(base) == []
    # The dev overlay lets file sync write into the apps' venvs, and nothing else.
    assert checks.security_problems(dev, writable_root=SERVICES) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(
            (INV, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
            "Deployment/inventory: container inventory: needs readOnlyRootFilesystem True",
            id="writable-root",
        ),
        pytest.param(
            (POSTGRES, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
            "StatefulSet/postgres: container postgres: needs allowPrivilegeEscalation false",
            id="statefulset-privilege-escalation",
        ),
        pytest.param(
            (POSTGRES, "runAsNonRoot: true", "runAsNonRoot: false"),
            "StatefulSet/postgres: needs runAsNonRoot",
            id="statefulset-may-run-as-root",
        ),
        pytest.param(
            (POSTGRES, "type: RuntimeDefault", "type: Unconfined"),
            "StatefulSet/postgres: needs seccompProfile RuntimeDefault",
            id="statefulset-seccomp",
        ),
        pytest.param(
            (POSTGRES, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
            "StatefulSet/postgres: container postgres: needs readOnlyRootFilesystem True",
            id="statefulset-writable-root",
        ),
        pytest.param(
            (POSTGRES, 'drop: ["ALL"]', 'drop: ["NET_RAW"]'),
            "StatefulSet/postgres: container postgres: needs capabilities.drop [ALL]",
            id="statefulset-capabilities",
        ),
        pytest.param(
            (
                POSTGRES,
                "      automountServiceAccountToken: false\n      enableServiceLinks",
                "      automountServiceAccountToken: true\n      enableServiceLinks",
            ),
            "StatefulSet/postgres: needs automountServiceAccountToken false",
            id="statefulset-api-token",
        ),
        pytest.param(
            (PAY, "runAsUser: 10001", "runAsUser: 0"),
            "Deployment/payment: needs runAsUser (non-zero)",
            id="root",
        ),
        pytest.param(
            (OP, "runAsUser: 10001", "runAsUser: 10002"),
            "Deployment/order-processor: runAsUser is not the image's USER 10001",
            id="not-the-image-user",
        ),
        pytest.param(
            (
                "base/zipkin.yaml",
                '            limits:\n              cpu: "1"\n',
                "            limits:\n",
            ),
            "Deployment/zipkin: container zipkin: needs cpu and memory requests and limits",
            id="no-cpu-limit",
        ),
        pytest.param(
            (PAY, "mountPath: /tmp", "mountPath: /scratch"),
            "Deployment/payment: container payment: needs a writable emptyDir for /tmp or /data",
            id="no-tmp",
        ),
        pytest.param(
            (OP, "serviceAccountName: order-processor", "serviceAccountName: default"),
            "Deployment/order-processor: needs its own ServiceAccount",
            id="default-service-account",
        ),
        pytest.param(
            (
                PAY,
                'dapr.io/disable-builtin-k8s-secret-store: "true"',
                'dapr.io/log-as-json: "false"',
            ),
            "Deployment/payment: no API token in the pod, so it needs the annotation "
            'dapr.io/disable-builtin-k8s-secret-store: "true" (daprd exits otherwise)',
            id="builtin-secret-store-without-token",
        ),
    ],
)
def test_security_check_fails_on(broken: Broken, edit: tuple[str, str, str], problem: str) -> None:
    problems = checks.security_problems(broken(*edit))
    assert problem in problems, problems


def test_security_check_fails_when_dev_cannot_write_for_file_sync(broken: Broken) -> None:
    edit = ("overlays/dev/kustomization.yaml", "value: false", "value: true")
    problems = checks.security_problems(broken(*edit, overlay="dev"), writable_root=SERVICES)
    assert (
        "Deployment/inventory: container inventory: needs readOnlyRootFilesystem False" in problems
    )


def test_local_runs_and_the_cluster_share_one_resiliency_policy() -> None:
    """The retry budget in docs/reliability.md holds in both places only if they agree."""
    local = yaml.safe_load((ROOT / "components" / "resiliency.yaml").read_text())
    cluster = yaml.safe_load((BASE / "dapr-resiliency.yaml").read_text())
    assert (local["spec"], local["scopes"]) == (cluster["spec"], cluster["scopes"])
