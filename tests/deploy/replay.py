"""The image build, replayed without Docker: the Dockerfile with a service's build args, step by
step, on this machine, into a folder that stands for the image's filesystem.

The build stage's COPY steps take their files from the build context (what .dockerignore lets
through) and its ``uv sync`` steps run as written, offline from uv's cache; the final stage
keeps only what it copies. Then the image's own command loads the app with gunicorn's
``--check-config``, from the image's WORKDIR and PATH alone. That proves what a Docker build
would need a registry for: the lock alone builds the venv, the venv holds everything the app
imports, and the command finds its config and app.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.deploy.sources import ROOT, Copy, Stage

# Only these RUN steps are understood; anything else would need Docker to mean anything.
KNOWN_RUNS = ("pip install", "uv sync", "groupadd", "useradd")


class ReplayError(Exception):
    """The Dockerfile cannot be built, or its image cannot load its app."""


def replay(
    stages: list[Stage], context: set[str], image: Path, python: str, env: dict[str, str]
) -> None:
    """Build ``stages`` (the Dockerfile as ``dockerfile`` reads it for one service) into
    ``image`` (its "/") with this machine's Python ``python`` (the image's X.Y), then run its
    command with ``--check-config`` under ``env`` (the manifest's plain variables)."""
    for stage in stages:
        workdir = "/"
        stage_env = stage.env()
        for instruction, rest in stage.instructions:
            if instruction == "WORKDIR":
                workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
                _host(image, workdir).mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                _copy(Copy.parse(rest), context, image, workdir)
            elif instruction == "RUN":
                _run(rest, {**stage_env, "UV_PYTHON": python}, image, workdir)
    final = stages[-1]
    command = json.loads(final.args("CMD")[-1])
    path = ":".join(
        "/usr/bin:/bin" if part == "$PATH" else str(_host(image, part))
        for part in final.env().get("PATH", "$PATH").split(":")
    )
    executable = shutil.which(command[0], path=path)
    if executable is None or not Path(executable).is_relative_to(image):
        raise ReplayError(f"{command[0]} is not in the image (PATH {path})")
    _run_on_host(
        [executable, "--check-config", *command[1:]],
        cwd=_host(image, final.workdir()),
        env={**final.env(), **env, "PATH": path},
        timeout_s=120,
        failure=f"{command} cannot load its app",
    )


def _host(image: Path, path: str) -> Path:
    return image / path.lstrip("/")


def _run_on_host(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout_s: int, failure: str
) -> None:
    """Run a step of the image on the host; a failure raises ReplayError with its output."""
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout_s
    )
    if result.returncode != 0:
        raise ReplayError(f"{failure}:\n{result.stdout}{result.stderr}")


def _copy(copy: Copy, context: set[str], image: Path, workdir: str) -> None:
    dest = copy.dest if copy.dest.startswith("/") else f"{workdir.rstrip('/')}/{copy.dest}"
    if copy.from_stage:
        # One image folder stands for every stage, so the venv is where it was built; the
        # Dockerfile check makes sure source and destination are the same path.
        if copy.sources != [copy.dest]:
            raise ReplayError(f"COPY --from={copy.from_stage} must keep the path {copy.sources}")
        return
    into_folder = dest.endswith("/") or copy.dest in (".", "./") or len(copy.sources) > 1
    for source in copy.sources:
        prefix = source.rstrip("/")
        files = [f for f in context if f == prefix or f.startswith(prefix + "/")]
        if not files:
            raise ReplayError(f"COPY {source}: not in the build context")
        for file in files:
            if file == prefix:
                target = _host(image, dest) / Path(file).name if into_folder else _host(image, dest)
            else:
                target = _host(image, dest) / file[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / file, target)


def _run(command: str, stage_env: dict[str, str], image: Path, workdir: str) -> None:
    if not command.startswith(KNOWN_RUNS):
        raise ReplayError(f"the replay does not know RUN {command!r}")
    if not command.startswith("uv sync"):
        return  # installing uv (this machine's is the Makefile's), adding the app user
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **{k: v for k, v in stage_env.items() if k.startswith("UV_")},
        # The venv goes where the image keeps it, under the stand-in root.
        "UV_PROJECT_ENVIRONMENT": str(_host(image, stage_env["UV_PROJECT_ENVIRONMENT"])),
        # Offline, from the cache `make setup` filled; the image's build has no cache at all.
        "UV_OFFLINE": "1",
        "UV_PYTHON_PREFERENCE": "only-system",
    }
    env.pop("UV_NO_CACHE", None)
    # Links into the cache instead of copies: the same venv, without 150 MB per replay.
    env["UV_LINK_MODE"] = "hardlink"
    cache = os.environ.get("UV_CACHE_DIR")
    if cache:
        env["UV_CACHE_DIR"] = cache
    _run_on_host(
        command.split(),
        cwd=_host(image, workdir),
        env=env,
        timeout_s=300,
        failure=f"RUN {command} failed",
    )
