"""Where state lives: PostgreSQL keeps its data directory on a volume that outlives the pod,
makes each commit durable, gives each app a role and a database no other app can reach, and
runs a pinned image that the local cluster builds under the same reference; the local
cluster's Dapr control plane keeps its state on volumes of the one default StorageClass. Each
check passes on the real files, then fails on a copy broken the way a person would break it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.deploy import checks
from tests.deploy.conftest import Broken, replace_once
from tests.deploy.sources import IMAGES_SCRIPT, LOCAL_CLUSTER, Obj, chart_values, load_yaml_all

OVERLAYS = ["base", "dev"]
POSTGRES = "base/postgres.yaml"
COMPONENTS = "base/dapr-components.yaml"
DAPR_VALUES = LOCAL_CLUSTER / "dapr-values.yaml"
STORAGE = LOCAL_CLUSTER / "local-path-storage.yaml"

OBJECT_CHECKS: dict[str, Callable[[list[Obj]], list[str]]] = {
    "storage": checks.storage_problems,
    "roles": checks.role_problems,
    "durability": checks.durability_problems,
    "postgres image": checks.postgres_image_problems,
}


@pytest.mark.parametrize("name", OVERLAYS)
@pytest.mark.parametrize("check", OBJECT_CHECKS)
def test_state_is_kept(request: pytest.FixtureRequest, name: str, check: str) -> None:
    objects: list[Obj] = request.getfixturevalue(name)
    assert OBJECT_CHECKS[check](objects) == []


def test_there_is_a_postgres_to_check(base: list[Obj]) -> None:
    """The checks above find the server and the three stores, so they check something."""
    assert len(checks.postgres_containers(base)) == 1
    assert len(checks.postgres_components(base)) == 3


PASSWORD_REF = "secretKeyRef:\n                  name: postgres-payment"


@pytest.mark.parametrize(
    ("check", "edit", "problem"),
    [
        pytest.param(
            "storage",
            (
                POSTGRES,
                'accessModes: ["ReadWriteOnce"]',
                'accessModes: ["ReadWriteOnce"]\n        storageClassName: ""',
            ),
            'StatefulSet/postgres: volumeClaimTemplate data: storageClassName "" binds only a '
            "volume made by hand",
            id="claim-with-the-empty-class",
        ),
        pytest.param(
            "storage",
            (
                POSTGRES,
                "    - metadata:\n        name: data\n",
                "    - metadata:\n        name: state\n",
                POSTGRES,
                "      volumes:\n",
                "      volumes:\n        - name: data\n          emptyDir: {}\n",
            ),
            "StatefulSet/postgres: PGDATA /var/lib/postgresql/data/pgdata is on volume data, "
            "which is no PersistentVolumeClaim",
            id="data-on-an-emptydir",
        ),
        pytest.param(
            "storage",
            (POSTGRES, "value: /var/lib/postgresql/data/pgdata", "value: /var/lib/pgdata"),
            "StatefulSet/postgres: PGDATA /var/lib/pgdata is on no volume",
            id="data-outside-every-volume",
        ),
        pytest.param(
            "roles",
            (
                COMPONENTS,
                "name: user\n      value: inventory\n",
                "name: user\n      value: payment\n",
            ),
            "Component/paymentstore: user payment is Component/inventorystore's too",
            id="user-of-another-component",
        ),
        pytest.param(
            "roles",
            (
                COMPONENTS,
                "name: user\n      value: inventory\n",
                "name: user\n      value: payment\n",
            ),
            "Component/inventorystore: user payment must be its database inventory",
            id="user-not-its-database",
        ),
        pytest.param(
            "roles",
            (COMPONENTS, "name: postgres-payment\n", "name: postgres-inventory\n"),
            "Component/paymentstore: password Secret postgres-inventory is "
            "Component/inventorystore's too",
            id="secret-of-another-role",
        ),
        pytest.param(
            "roles",
            (COMPONENTS, "name: postgres-payment\n", "name: postgres-inventory\n"),
            "Component/paymentstore: its password is Secret postgres-inventory, but "
            "StatefulSet/postgres gives role payment ['postgres-payment'] (PAYMENT_PASSWORD)",
            id="secret-the-server-does-not-give-the-role",
        ),
        pytest.param(
            "roles",
            (POSTGRES, PASSWORD_REF, PASSWORD_REF.replace("payment", "inventory")),
            "Component/paymentstore: its password is Secret postgres-payment, but "
            "StatefulSet/postgres gives role payment ['postgres-inventory'] (PAYMENT_PASSWORD)",
            id="server-gives-the-role-another-secret",
        ),
        pytest.param(
            "roles",
            (COMPONENTS, "scopes:\n  - payment\n", "scopes:\n  - payment\n  - inventory\n"),
            "Component/paymentstore: scoped to ['payment', 'inventory']; a role's store serves "
            "one app",
            id="scoped-to-two-apps",
        ),
        pytest.param(
            "roles",
            (POSTGRES, '    REVOKE ALL ON DATABASE :"role" FROM PUBLIC;\n', ""),
            "Component/inventorystore: the init script of StatefulSet/postgres never revokes "
            "PUBLIC's CONNECT on database inventory",
            id="init-script-forgets-the-revoke",
        ),
        pytest.param(
            "roles",
            (POSTGRES, "for role in order_processor inventory payment;", "for role in payment;"),
            "Component/inventorystore: the init script of StatefulSet/postgres never creates "
            "login role inventory",
            id="init-script-forgets-a-role",
        ),
        pytest.param(
            "roles",
            (POSTGRES, 'CREATE ROLE :"role" LOGIN', 'CREATE ROLE :"role" NOLOGIN'),
            "Component/workflowstore: the init script of StatefulSet/postgres never creates "
            "login role order_processor",
            id="role-cannot-log-in",
        ),
        pytest.param(
            "roles",
            (POSTGRES, "mountPath: /docker-entrypoint-initdb.d", "mountPath: /docker-init.d"),
            "Component/paymentstore: the init script of StatefulSet/postgres never creates "
            "database payment owned by it",
            id="init-script-not-where-the-image-runs-it",
        ),
        pytest.param(
            "durability",
            (POSTGRES, "- fsync=on", "- fsync=off"),
            "StatefulSet/postgres: fsync=off loses committed data",
            id="fsync-off",
        ),
        pytest.param(
            "durability",
            (POSTGRES, "- synchronous_commit=on", "- synchronous_commit=false"),
            "StatefulSet/postgres: synchronous_commit=false loses committed data",
            id="synchronous-commit-off",
        ),
        pytest.param(
            "durability",
            (POSTGRES, "- full_page_writes=on", "- full_page_writes=0"),
            "StatefulSet/postgres: full_page_writes=0 loses committed data",
            id="full-page-writes-off",
        ),
        pytest.param(
            "durability",
            (POSTGRES, "- full_page_writes=on", "- full_page_writes=on\n            - --fsync=off"),
            "StatefulSet/postgres: fsync=off loses committed data",
            id="long-option-form",
        ),
        pytest.param(
            "postgres image",
            (POSTGRES, "image: postgres:15.20-bookworm", "image: postgres:latest"),
            "StatefulSet/postgres: image postgres:latest is not pinned to a release",
            id="latest",
        ),
        pytest.param(
            "postgres image",
            (POSTGRES, "image: postgres:15.20-bookworm", "image: postgres"),
            "StatefulSet/postgres: image postgres is not pinned to a release",
            id="bare-name",
        ),
        pytest.param(
            "postgres image",
            (POSTGRES, "image: postgres:15.20-bookworm", "image: postgres:15-bookworm"),
            "StatefulSet/postgres: image postgres:15-bookworm is not pinned to a release",
            id="major-only",
        ),
    ],
)
def test_state_check_fails_on(
    broken: Broken, check: str, edit: tuple[str, ...], problem: str
) -> None:
    problems = OBJECT_CHECKS[check](broken(*edit))
    assert any(problem in p for p in problems), problems


# --- the local cluster ------------------------------------------------------------------------


def test_local_cluster_builds_the_pinned_postgres_image(base: list[Obj]) -> None:
    assert checks.local_postgres_image_problems(base, IMAGES_SCRIPT.read_text()) == []


SED = "$(sed -n 's|^ *image: postgres:||p' \"$root/deploy/k8s/base/postgres.yaml\")"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            'build_from_containerfile "$registry/library/postgres:$postgres_tag"',
            'build_from_containerfile "$registry/library/postgres:15.19-bookworm"',
            "scripts/cluster/images.sh: builds library/postgres:15.19-bookworm, not "
            "library/postgres:$postgres_tag",
            id="tag-written-into-the-build",
        ),
        pytest.param(
            "'s|^ *image: postgres:||p'",
            "'s|^image: postgres:||p'",
            "scripts/cluster/images.sh: reads ''; the manifests pin ['15.20-bookworm']",
            id="sed-matches-nothing",
        ),
        pytest.param(
            f"postgres_tag={SED}",
            "postgres_tag=15.20-bookworm",
            "scripts/cluster/images.sh: must read the postgres tag from deploy/k8s "
            "(postgres_tag=...)",
            id="tag-written-down",
        ),
    ],
)
def test_local_image_check_fails_on(base: list[Obj], old: str, new: str, problem: str) -> None:
    script = replace_once(IMAGES_SCRIPT.read_text(), old, new)
    problems = checks.local_postgres_image_problems(base, script)
    assert problem in problems, problems


def test_local_image_check_fails_when_no_postgres_is_built(base: list[Obj]) -> None:
    script = IMAGES_SCRIPT.read_text().replace("library/postgres:", "library/postgresql:")
    problems = checks.local_postgres_image_problems(base, script)
    assert "scripts/cluster/images.sh: builds no library/postgres image" in problems


@pytest.fixture(scope="session")
def dapr_chart(dapr_dir: Path) -> Obj:
    """The values Dapr's Helm chart (and its subcharts) take, at the runtime's version."""
    return chart_values(dapr_dir / "charts" / "dapr")


def test_local_dapr_keeps_the_charts_persistent_storage(dapr_chart: Obj) -> None:
    assert checks.dapr_values_problems(yaml.safe_load(DAPR_VALUES.read_text()), dapr_chart) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "    storageSize: 1Gi\n",
            "    storageSize: 1Gi\n    inMemoryStorage: true\n",
            "dapr-values.yaml: dapr_scheduler.cluster.inMemoryStorage: true loses state on restart",
            id="scheduler-in-memory",
        ),
        pytest.param(
            "dapr_placement:\n",
            "dapr_placement:\n  cluster:\n    forceInMemoryLog: true\n",
            "dapr-values.yaml: dapr_placement.cluster.forceInMemoryLog: true loses state on "
            "restart",
            id="placement-in-memory",
        ),
        pytest.param(
            "  volumeclaims:\n",
            "  volumeClaims:\n",
            "dapr-values.yaml: dapr_placement.volumeClaims.storageSize is no value of the chart",
            id="misspelt-key",
        ),
    ],
)
def test_dapr_values_check_fails_on(dapr_chart: Obj, old: str, new: str, problem: str) -> None:
    values = yaml.safe_load(replace_once(DAPR_VALUES.read_text(), old, new))
    problems = checks.dapr_values_problems(values, dapr_chart)
    assert problem in problems, problems


def test_local_cluster_has_one_default_storage_class() -> None:
    assert checks.storage_class_problems(load_yaml_all(STORAGE)) == []


SECOND_CLASS = """---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
"""


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            'is-default-class: "true"',
            'is-default-class: "false"',
            "expected exactly one StorageClass with storageclass.kubernetes.io/is-default-class: "
            '"true", got []',
            id="no-default",
        ),
        pytest.param(
            "---\napiVersion: v1\nkind: ConfigMap",
            f"{SECOND_CLASS}---\napiVersion: v1\nkind: ConfigMap",
            "got ['StorageClass/local-path', 'StorageClass/fast']",
            id="two-defaults",
        ),
    ],
)
def test_storage_class_check_fails_on(tmp_path: Path, old: str, new: str, problem: str) -> None:
    copy = tmp_path / STORAGE.name
    copy.write_text(replace_once(STORAGE.read_text(), old, new))
    problems = checks.storage_class_problems(load_yaml_all(copy))
    assert any(problem in p for p in problems), problems
