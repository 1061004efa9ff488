"""Fixtures of the offline proof: the tools `make setup` installs (kustomize, skaffold's schema,
the Dapr module and its CRDs) and the manifests they render. A missing tool fails the tests
with what to run; it never skips them, since a skipped proof proves nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.deploy.checks import CrdSchemas, load_crd_schemas
from tests.deploy.sources import (
    BASE,
    DEV,
    K8S,
    ROOT,
    Obj,
    dapr_injector_annotations,
    load_lock,
    load_skaffold,
    render,
)

CACHE = (
    Path(os.environ.get("DAPR_LOCAL_CACHE", Path.home() / ".cache" / "dapr-order-processing"))
    / "k8s"
)
SETUP = "run `make setup` (scripts/install-k8s-tools.sh installs it)"

Broken = Callable[..., list[Obj]]
Edited = Callable[..., str]


@pytest.fixture(scope="session")
def kustomize() -> Path:
    path = CACHE / "bin" / "kustomize"
    if not os.access(path, os.X_OK):
        pytest.fail(f"kustomize is not at {path}: {SETUP}")
    return path


@pytest.fixture(scope="session")
def skaffold_config() -> Obj:
    return load_skaffold()


@pytest.fixture(scope="session")
def skaffold_schema(skaffold_config: Obj) -> Obj:
    """The JSON schema of the apiVersion skaffold.yaml declares, from the skaffold module."""
    api_version = str(skaffold_config["apiVersion"]).removeprefix("skaffold/")
    path = CACHE / "skaffold-schemas" / f"{api_version}.json"
    if not path.is_file():
        pytest.fail(f"skaffold's {api_version} schema is not at {path}: {SETUP}")
    schema: Obj = json.loads(path.read_text())
    return schema


@pytest.fixture(scope="session")
def dapr_dir() -> Path:
    """The github.com/dapr/dapr module the runtime is built from (tools/dapr-runtime/go.mod)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not installed: the Dapr CRDs come from the dapr Go module")
    result = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "github.com/dapr/dapr"],
        cwd=ROOT / "tools" / "dapr-runtime",
        capture_output=True,
        text=True,
        check=False,
    )
    folder = Path(result.stdout.strip())
    if not result.stdout.strip() or not (folder / "charts" / "dapr" / "crds").is_dir():
        why = result.stderr.strip() or "not downloaded"
        pytest.fail(f"the dapr module is not in the Go module cache ({why}): {SETUP}")
    return folder


@pytest.fixture(scope="session")
def crds(dapr_dir: Path) -> CrdSchemas:
    return load_crd_schemas(dapr_dir / "charts" / "dapr" / "crds")


@pytest.fixture(scope="session")
def injector_annotations(dapr_dir: Path) -> set[str]:
    return dapr_injector_annotations(dapr_dir)


@pytest.fixture(scope="session")
def base(kustomize: Path) -> list[Obj]:
    return render(kustomize, BASE)


@pytest.fixture(scope="session")
def dev(kustomize: Path) -> list[Obj]:
    return render(kustomize, DEV)


@pytest.fixture(scope="session")
def lock() -> Obj:
    return load_lock()


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced; ``old`` must be there, so that a negative test
    can never pass by breaking nothing."""
    assert old in text, f"{old!r} is not in the text to break"
    return text.replace(old, new, 1)


@pytest.fixture
def broken(tmp_path: Path, kustomize: Path) -> Broken:
    """Render a copy of deploy/k8s with edits: ``broken("base/x.yaml", old, new, ...)``,
    then ``overlay="dev"`` to render the dev overlay instead of the base."""

    def make(*edits: str, overlay: str = "base") -> list[Obj]:
        copy = tmp_path / "k8s"
        shutil.copytree(K8S, copy, dirs_exist_ok=True)
        for file, old, new in zip(edits[::3], edits[1::3], edits[2::3], strict=True):
            path = copy / file
            path.write_text(replace_once(path.read_text(), old, new))
        return render(kustomize, copy / ("base" if overlay == "base" else "overlays/dev"))

    return make


@pytest.fixture
def skaffold_with() -> Callable[[str, str], Obj]:
    """skaffold.yaml as it would read with one edit."""

    def make(old: str, new: str) -> Obj:
        config: Obj = yaml.safe_load(replace_once((ROOT / "skaffold.yaml").read_text(), old, new))
        return config

    return make
