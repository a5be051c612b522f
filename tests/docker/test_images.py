"""The images: the project template on a Lambda-style base image (one with its own
ENTRYPOINT), and the top-level Dockerfile running the documented compose/ example."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import httpx
import pytest
from stackkit import (  # noqa: F401  (fixtures)
    base_image,
    docker_client,
    gateway_url,
    labelled,
    project_name,
    smyth,
    sweep,
    wait_for,
    write_project,
)

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]

# What an official Lambda base image does that a plain Python image does not: an ENTRYPOINT
# that starts the runtime interface client, a /var/task workdir and LAMBDA_* variables.
LAMBDA_LIKE = """
FROM {base}
RUN printf '#!/bin/sh\\necho "the Lambda RIC would start here"; exit 3\\n' > /lambda-entrypoint.sh \\
 && chmod +x /lambda-entrypoint.sh
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
ENTRYPOINT ["/lambda-entrypoint.sh"]
CMD ["app.handler"]
"""


def test_a_lambda_style_base_image_with_an_entrypoint_works(tmp_path, docker_client, base_image):
    project = project_name("lambdabase")
    lambda_base = f"{project}-base:latest"
    docker_client.images.build(
        fileobj=io.BytesIO(LAMBDA_LIKE.format(base=base_image).encode()), tag=lambda_base,
        labels={"dev.smyth.project": project}, rm=True, forcerm=True)
    root = write_project(tmp_path / "lambdabase", f"""
        [tool.smyth]
        port = 0
        [tool.smyth.docker]
        project_name = "{project}"
        base_image = "{lambda_base}"
        [tool.smyth.handlers.fn]
        handler_path = "app.handler"
        url_path = "/fn"
        memory = 256
        cpus = 0.5
        """, {"app.py": """
        import sys
        def handler(event, context):
            return {"python": sys.executable, "path": [p for p in sys.path if "smyth" in p]}
        """})
    try:
        up = smyth(root, "up", "-d")
        assert f"from {lambda_base}" in up.stdout
        answer = httpx.get(gateway_url(docker_client, project) + "/fn", timeout=60).json()
        # The handler runs on the project's own virtualenv, with Smyth's runtime on its path.
        assert answer["python"] == "/opt/task/venv/bin/python"
        assert answer["path"] == ["/opt/smyth/runtime", "/opt/smyth/handler"]
        smyth(root, "down")
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)


def test_the_compose_example_serves_the_bundled_example(tmp_path, docker_client, base_image):
    image = f"smythtest-toplevel-{uuid.uuid4().hex[:6]}:dev"
    project = project_name("example")
    # A copy of the repository's example and compose file: the test edits a handler.
    shutil.copytree(ROOT / "examples" / "hello", tmp_path / "examples" / "hello",
                    ignore=shutil.ignore_patterns(".smyth", "__pycache__"))
    (tmp_path / "compose").mkdir()
    shutil.copy(ROOT / "compose" / "compose.yaml", tmp_path / "compose" / "compose.yaml")
    port = _free_port()
    env = {**os.environ, "SMYTH_BASE_IMAGE": base_image, "SMYTH_IMAGE": image,
           "SMYTH_PORT": str(port)}
    compose = ["docker-compose", "-f", str(tmp_path / "compose" / "compose.yaml"), "-p", project]
    # The build context is the repository (the compose file says `context: ..`).
    subprocess.run(["docker", "build", "-q", "-t", image, "--build-arg",
                    f"BASE_IMAGE={base_image}", str(ROOT)], check=True, capture_output=True,
                   timeout=900)
    try:
        subprocess.run([*compose, "up", "-d", "--no-build"], check=True, capture_output=True,
                       env=env, timeout=300)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _status(f"{url}/hello/world") == 200, timeout=180, interval=0.2,
                 message="the example stack to answer")
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/hello/world").text == "Hello, world!"
            first, second = client.get("/counter").json(), client.get("/counter").json()
            assert second["count"] == first["count"] + 1  # warm, on the first warm replica
            echoed = client.post("/echo/a/b?x=1", content="hi",
                                 headers={"content-type": "text/plain"}).json()
        assert echoed["greeting"] == "hi" and echoed["event"]["rawPath"] == "/echo/a/b"
        gateway = docker_client.containers.get(f"{project}_gateway_1")
        assert gateway.attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
        worker = docker_client.containers.get(f"{project}_hello-0_1")
        assert worker.attrs["HostConfig"]["NanoCpus"] == 72_000_000
        assert worker.attrs["HostConfig"]["Memory"] == 128 * 2**20
        # The same image, everything in one container: `smyth run` as the README shows it.
        alone = docker_client.containers.run(
            image, ["smyth", "run", "--host", "0.0.0.0"], detach=True, auto_remove=True,
            volumes={str(tmp_path / "examples" / "hello"): {"bind": "/var/task", "mode": "ro"}},
            ports={"8080/tcp": ("127.0.0.1", None)}, labels={"dev.smyth.project": project})
        alone.reload()
        alone_url = f"http://127.0.0.1:{alone.ports['8080/tcp'][0]['HostPort']}"
        wait_for(lambda: _status(f"{alone_url}/hello/world") == 200, timeout=120, interval=0.2,
                 message="smyth run in a container to answer")
        assert httpx.get(f"{alone_url}/hello/world", timeout=30).text == "Hello, world!"
    finally:
        subprocess.run([*compose, "down"], capture_output=True, env=env, timeout=300, check=False)
        sweep(docker_client, "hello-example")
        sweep(docker_client, project)
        try:
            docker_client.images.remove(image, force=True)
        except docker.errors.ImageNotFound:
            pass
    assert labelled(docker_client, "hello-example") == ([], [])


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
