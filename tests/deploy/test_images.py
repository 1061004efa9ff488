"""Images, offline: the Dockerfile, with each service's build args, against the lock, the
Makefile and the manifests; a wheel for every locked dependency on both architectures; the
build context .dockerignore leaves. The build itself and the image's first start are `make
e2e`'s: it builds each image with buildah and runs it on the local cluster."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.deploy.checks import (
    context_problems,
    dockerfile_problems,
    image_facts,
    wheel_problems,
)
from tests.deploy.conftest import replace_once
from tests.deploy.sources import (
    DOCKERFILE,
    ROOT,
    SERVICES,
    Obj,
    Stage,
    build_context,
    dockerfile,
    parse_dockerignore,
)

DOCKERIGNORE = (ROOT / ".dockerignore").read_text()


def edited(service: str, old: str, new: str) -> list[Stage]:
    """The Dockerfile with one edit, as Docker reads it to build ``service``."""
    return dockerfile(service, replace_once(DOCKERFILE.read_text(), old, new))


@pytest.fixture(scope="session")
def context() -> set[str]:
    return build_context(ROOT, parse_dockerignore(DOCKERIGNORE))


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile(service: str, lock: Obj) -> None:
    assert dockerfile_problems(service, dockerfile(service), lock) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            'CMD ["gunicorn", "--config", "gunicorn.conf.py"]',
            "CMD gunicorn --config gunicorn.conf.py",
            "the command must be exactly CMD",
            id="shell-form",
        ),
        pytest.param(
            "ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm\n",
            "ARG PYTHON_IMAGE=python:3.11-slim\n",
            "base python:3.11-slim is not python:X.Y.Z-slim-<debian release>",
            id="unpinned-base",
        ),
        pytest.param(
            "FROM ${PYTHON_IMAGE}\nENV PYTHONUNBUFFERED",
            "FROM python:3.11.13-slim-bookworm\nENV PYTHONUNBUFFERED",
            "needs a build stage on the same base as the final stage",
            id="venv-built-on-another-python",
        ),
        pytest.param(
            "ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm\n",
            "ARG PYTHON_IMAGE=python:3.14.0-slim-trixie\n",
            "is outside requires-python",
            id="python-the-lock-does-not-cover",
        ),
        pytest.param(
            "COPY packages/servicekit/ packages/servicekit/\n",
            "",
            "the build stage never copies packages/servicekit/",
            id="workspace-dependency-not-copied",
        ),
        pytest.param(
            "COPY packages/orderctl/pyproject.toml packages/orderctl/\n",
            "",
            "never copies packages/orderctl/pyproject.toml (uv needs every member's)",
            id="workspace-member-not-copied",
        ),
        pytest.param(
            "--no-editable --package ${SERVICE} --no-install-workspace",
            "--package ${SERVICE} --no-install-workspace",
            "every uv sync must be --frozen --no-dev --no-editable --package inventory",
            id="editable",
        ),
        pytest.param(
            "uv==0.13.8", "uv==0.13.7", "installs a uv other than the Makefile's", id="uv"
        ),
        pytest.param("USER 10001:10001", "USER root", "USER must be a numeric", id="root"),
        pytest.param(
            "RUN groupadd",
            "RUN apt-get install -y gcc && groupadd",
            "final stage runs",
            id="build-tools-in-final",
        ),
        pytest.param("RUN groupadd", "RUN rm /usr/bin/tar && groupadd", "touches tar", id="no-tar"),
        pytest.param(
            "PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0", "needs PYTHONUNBUFFERED=1", id="buffered"
        ),
        pytest.param(
            "COPY services/${SERVICE}/gunicorn.conf.py ./",
            "COPY services/${SERVICE}/gunicorn.conf.py /etc/",
            "services/inventory/gunicorn.conf.py must be copied into the WORKDIR",
            id="config-elsewhere",
        ),
        pytest.param(
            "ARG SERVICE\nCOPY services/${SERVICE}/gunicorn.conf.py",
            "COPY services/${SERVICE}/gunicorn.conf.py",
            "services/inventory/gunicorn.conf.py must be copied into the WORKDIR",
            id="service-arg-not-redeclared-in-the-final-stage",
        ),
        pytest.param(
            "COPY services/${SERVICE}/ services/${SERVICE}/",
            "COPY services/order-processor/ services/order-processor/",
            "the build stage never copies services/inventory/",
            id="one-service-named-in-place-of-the-arg",
        ),
    ],
)
def test_dockerfile_check_fails_on(lock: Obj, old: str, new: str, problem: str) -> None:
    problems = dockerfile_problems("inventory", edited("inventory", old, new), lock)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("service", SERVICES)
def test_every_locked_dependency_has_a_wheel_for_the_image(service: str, lock: Obj) -> None:
    assert wheel_problems(service, lock, image_facts(service)) == []


def test_wheel_check_fails_on_a_source_only_dependency(lock: Obj) -> None:
    source_only = copy.deepcopy(lock)
    grpcio = next(p for p in source_only["package"] if p["name"] == "grpcio")
    grpcio["wheels"] = []
    problems = wheel_problems("order-processor", source_only, image_facts("order-processor"))
    assert any("grpcio" in p and "would need a compiler" in p for p in problems), problems


def test_build_context_has_what_the_dockerfile_copies_and_nothing_else(context: set[str]) -> None:
    dockerfiles = {s: dockerfile(s) for s in SERVICES}
    assert context_problems(context, dockerfiles) == []


# What a working copy holds once it has run: caches, local state, tests, a venv, VCS.
JUNK = [
    ".git/HEAD",
    ".venv/bin/python",
    ".pytest_cache/README.md",
    "tests/unit/test_x.py",
    "services/inventory/.dapr/inventory.db",
    "services/inventory/.dapr/logs/app.log",
    "services/inventory/inventory/__pycache__/app.cpython-311.pyc",
    "services/payment/tests/test_y.py",
    "packages/servicekit/.mypy_cache/x.json",
    "packages/contracts/contracts.egg-info/PKG-INFO",
]
KEPT = ["pyproject.toml", "uv.lock", "services/inventory/inventory/app.py"]


def junk_tree(root: Path) -> Path:
    for name in JUNK + KEPT:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def test_build_context_keeps_out_what_a_run_leaves_behind(tmp_path: Path) -> None:
    context = build_context(junk_tree(tmp_path), parse_dockerignore(DOCKERIGNORE))
    assert context == set(KEPT)
    assert context_problems(context, {}) == []


def test_context_check_fails_when_local_state_leaks_in(tmp_path: Path) -> None:
    ignore = replace_once(DOCKERIGNORE, "**/.dapr\n", "")
    context = build_context(junk_tree(tmp_path), parse_dockerignore(ignore))
    problems = context_problems(context, {})
    assert "the build context includes services/inventory/.dapr/inventory.db" in problems


def test_context_check_fails_when_a_copied_file_is_left_out() -> None:
    ignore = replace_once(DOCKERIGNORE, "!uv.lock\n", "")
    context = build_context(ROOT, parse_dockerignore(ignore))
    problems = context_problems(context, {"payment": dockerfile("payment")})
    assert problems == [
        "services/Dockerfile for payment copies uv.lock, which .dockerignore keeps out of the "
        "build context"
    ]
