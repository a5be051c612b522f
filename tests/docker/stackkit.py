"""Fixtures and helpers for Docker mode against the real engine.

Test modules import the fixtures they use from here (a conftest.py in this directory would
shadow the top-level one, which other test modules import by name).

A missing engine fails these tests, never skips them: CI must not pass without Docker.
Everything a test starts carries a ``dev.smyth.project=smythtest…`` label and is removed by
label when its fixture ends; the image tags are removed at the end of the session (not per
module, so that later builds reuse the cached layers of earlier ones).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from conftest import wait_for, write_project  # noqa: F401  (one copy of each, re-exported)

HERE = Path(__file__).resolve().parent
BASE_IMAGE = os.environ.get("SMYTH_BASE_IMAGE", "smyth-test-base:bookworm")
PROJECTS: list[str] = []  # every project name handed out this session, for the final sweep


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine ({exc}); Docker-mode tests fail rather than skip. "
                    "Start one with tests/docker/ensure-dockerd.sh, or deselect them with "
                    "-m 'not docker'", pytrace=False)
    yield client
    for project in PROJECTS:
        sweep(client, project)
        for image in client.images.list(filters={"label": f"dev.smyth.project={project}"}):
            for tag in image.tags:
                client.images.remove(tag, force=True)
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """The offline base image (Debian + python3), built once per machine."""
    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        subprocess.run(["bash", str(HERE / "build-base-image.sh")], check=True, timeout=1200)
    return BASE_IMAGE


def project_name(purpose: str) -> str:
    name = f"smythtest{purpose}{uuid.uuid4().hex[:6]}"
    PROJECTS.append(name)
    return name


def sweep(client: docker.DockerClient, project: str) -> None:
    """Remove whatever still carries the project's label: containers, then networks."""
    label = {"label": f"dev.smyth.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()


def labelled(client: docker.DockerClient, project: str) -> tuple[list[str], list[str]]:
    label = {"label": f"dev.smyth.project={project}"}
    return ([c.name for c in client.containers.list(all=True, filters=label)],
            [n.name for n in client.networks.list(filters=label)])


def smyth(project: Path, *args: str, timeout: float = 900,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the smyth CLI in ``project``; output is kept (stdout and stderr together)."""
    result = subprocess.run([sys.executable, "-m", "smyth", *args], cwd=project, text=True,
                            check=False,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and result.returncode != 0:
        raise AssertionError(f"smyth {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}")
    return result


def stack_config(project: str, handlers: str, name: str = "example") -> str:
    """A Docker test project's pyproject.toml: no dependencies, a free port, a stack named
    ``project``, and the given handler tables."""
    return f"""
[project]
name = "{name}"
version = "0"
dependencies = []

[tool.smyth]
port = 0

[tool.smyth.docker]
project_name = "{project}"
{handlers}"""


def gateway_url(client: docker.DockerClient, project: str) -> str:
    [gateway] = client.containers.list(filters={"label": [f"dev.smyth.project={project}",
                                                          "dev.smyth.role=gateway"]})
    binding = gateway.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]
    return f"http://127.0.0.1:{binding['HostPort']}"


def workers(client: docker.DockerClient, project: str, handler: str) -> list[Any]:
    return client.containers.list(all=True, filters={"label": [
        f"dev.smyth.project={project}", f"dev.smyth.handler={handler}"]})
