"""A stack's life: down leaves nothing, the compose file starts the same stack, the
foreground stops on Ctrl-C, and the failures `smyth up` must explain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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
    stack_config,
    sweep,
    wait_for,
    write_project,
)

pytestmark = pytest.mark.docker

HANDLERS = """
[tool.smyth.handlers.hello]
handler_path = "app.hello.handler"
url_path = "/hello/{name}"
memory = 256
environment = { VERSION_TAG = "$LATEST" }

[tool.smyth.handlers.counter]
handler_path = "app.counter.handler"
url_path = "/counter"
concurrency = 2
memory = 512
cpus = 0.5
"""

FILES = {
    "app/__init__.py": "",
    "app/hello.py": """
        import os
        def handler(event, context):
            return {"statusCode": 200, "headers": {"content-type": "text/plain"},
                    "body": f"Hello, {event['pathParameters']['name']}! "
                            f"{os.environ['VERSION_TAG']} {context.memory_limit_in_mb}"}
        """,
    "app/counter.py": """
        import os
        COUNT = 0
        def handler(event, context):
            global COUNT
            COUNT += 1
            return {"count": COUNT, "container": os.environ["HOSTNAME"]}
        """,
}

# What must be equal between the stack `smyth up` starts and the one the compose file does.
COMPARED_LABELS = ("dev.smyth.project", "dev.smyth.role", "dev.smyth.handler",
                   "dev.smyth.replica", "dev.smyth.spec")


def summary(client: docker.DockerClient, project: str) -> dict[str, dict]:
    result = {}
    for container in client.containers.list(filters={"label": f"dev.smyth.project={project}"}):
        attrs = container.attrs
        host, config = attrs["HostConfig"], attrs["Config"]
        result[container.name] = {
            "image": config["Image"], "cmd": config["Cmd"], "user": config["User"],
            "env": sorted(e for e in config["Env"] if e.startswith(("AWS_", "SMYTH_"))),
            "labels": {k: config["Labels"].get(k) for k in COMPARED_LABELS},
            "memory": host["Memory"], "swap": host["MemorySwap"], "cpus": host["NanoCpus"],
            "binds": sorted(host["Binds"] or []), "workdir": config["WorkingDir"],
            "healthcheck": config["Healthcheck"]["Test"],
            "restart": host["RestartPolicy"]["Name"], "init": host["Init"],
            "ports": {k: [b["HostIp"] for b in v] for k, v in (host["PortBindings"] or {}).items()},
            "networks": sorted(attrs["NetworkSettings"]["Networks"]),
            "aliases": sorted(a for n in attrs["NetworkSettings"]["Networks"].values()
                              for a in n["Aliases"] or [] if not container.id.startswith(a)),
        }
    return result


def responses(url: str) -> dict[str, object]:
    with httpx.Client(base_url=url, timeout=60) as client:
        hello = client.get("/hello/ann")
        counts = [client.get("/counter").json() for _ in range(4)]
    return {"hello": (hello.status_code, hello.headers["content-type"], hello.text),
            "counter containers": len({c["container"] for c in counts}),
            "counts": sorted(c["count"] for c in counts)}


def test_down_leaves_nothing_and_the_compose_file_starts_the_same_stack(
        tmp_path, docker_client, base_image):
    project = project_name("compose")
    root = write_project(tmp_path / "lifecycle", stack_config(project, HANDLERS, "lifecycle"),
                         FILES)
    compose = ["docker-compose", "-f", str(root / ".smyth" / "compose.yaml"), "-p", project]
    try:
        smyth(root, "up", "-d", "--base-image", base_image)
        by_smyth = summary(docker_client, project)
        assert len(by_smyth) == 4  # gateway, hello, counter × 2
        served_by_smyth = responses(gateway_url(docker_client, project))
        assert served_by_smyth["hello"] == (200, "text/plain", "Hello, ann! $LATEST 256")
        assert served_by_smyth["counter containers"] == 2

        down = smyth(root, "down")
        assert f"Removed 4 container(s) and 1 network(s) of project {project}" in down.stdout
        assert labelled(docker_client, project) == ([], [])

        subprocess.run([*compose, "up", "-d"], check=True, capture_output=True, timeout=300)
        url = gateway_url(docker_client, project)
        wait_for(lambda: _answers(url), timeout=120, message="the compose stack to answer")
        assert summary(docker_client, project) == by_smyth
        assert responses(url) == served_by_smyth
        # smyth's own commands see a compose-started stack as theirs.
        assert "counter[1]" in smyth(root, "ps").stdout

        subprocess.run([*compose, "down"], check=True, capture_output=True, timeout=300)
        assert labelled(docker_client, project) == ([], [])
    finally:
        subprocess.run([*compose, "down"], capture_output=True, timeout=300, check=False)
        sweep(docker_client, project)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/hello/x", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_foreground_up_streams_logs_and_ctrl_c_removes_the_stack(tmp_path, docker_client,
                                                                 base_image):
    project = project_name("fg")
    root = write_project(tmp_path / "fg", stack_config(project, HANDLERS, "lifecycle"), FILES)
    log = open(tmp_path / "up.log", "w+")  # noqa: SIM115  (closed in the finally below)
    proc = subprocess.Popen([sys.executable, "-m", "smyth", "up", "--base-image", base_image],
                            cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: "Streaming logs" in (tmp_path / "up.log").read_text(), timeout=300,
                 interval=0.2, message="smyth up to be ready")
        url = gateway_url(docker_client, project)
        assert httpx.get(f"{url}/hello/fg", timeout=60).status_code == 200
        wait_for(lambda: "hello      | END RequestId" in (tmp_path / "up.log").read_text()
                 or "hello | END RequestId" in (tmp_path / "up.log").read_text(),
                 message="the handler's log line in the foreground stream")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert labelled(docker_client, project) == ([], [])
        assert "Stopping stack" in (tmp_path / "up.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        sweep(docker_client, project)


def test_code_that_fails_to_import_is_served_with_its_error_a_path_naming_nothing_fails_up(
        tmp_path, docker_client, base_image):
    project = project_name("broken")
    config = stack_config(project, HANDLERS, "lifecycle") + """
[tool.smyth.handlers.broken]
handler_path = "app.broken.handler"
url_path = "/broken"
"""
    root = write_project(tmp_path / "broken", config,
                         {**FILES, "app/broken.py": "def handler(event, context)\n    pass\n"})
    try:
        # A syntax error is the code's: the stack comes up and serves it, as smyth run does.
        result = smyth(root, "up", "-d", "--base-image", base_image, check=False)
        assert result.returncode == 0, result.stdout
        assert "broken: Runtime.UserCodeSyntaxError: Syntax error in module 'app.broken'" \
            in result.stdout and "serving it anyway" in result.stdout
        url = gateway_url(docker_client, project)
        response = httpx.get(f"{url}/broken", timeout=30)
        assert response.status_code == 500
        assert response.json()["errorType"] == "Runtime.UserCodeSyntaxError"
        assert httpx.get(f"{url}/counter", timeout=30).status_code == 200
        (root / "app/broken.py").write_text("def handler(event, context):\n    return {'ok': 1}\n")
        wait_for(lambda: httpx.get(f"{url}/broken", timeout=30).status_code == 200,
                 message="the fixed handler to be served")
        smyth(root, "down")

        # A handler_path naming no module is the configuration's: up fails, naming the key.
        (root / "pyproject.toml").write_text(config.replace("app.broken.handler",
                                                            "app.nowhere.handler"))
        result = smyth(root, "up", "-d", "--base-image", base_image, check=False)
        assert result.returncode == 2, result.stdout
        assert f"{root}/pyproject.toml, key 'tool.smyth.handlers.broken.handler_path'" \
            in result.stdout
        assert "No module named 'app.nowhere'" in result.stdout
        assert "smyth down removes it" in result.stdout
    finally:
        smyth(root, "down", check=False)
        sweep(docker_client, project)


def test_a_replica_that_is_not_ready_in_time_is_named(tmp_path, docker_client, base_image):
    project = project_name("slowinit")
    config = stack_config(project, HANDLERS, "lifecycle") + """
[tool.smyth.handlers.sleepy]
handler_path = "app.sleepy.handler"
url_path = "/sleepy"
"""
    files = {**FILES, "app/sleepy.py": "import time\ntime.sleep(600)\n"
                                       "def handler(event, context):\n    return 1\n"}
    root = write_project(tmp_path / "slowinit", config, files)
    env_timeout = {"SMYTH_UP_TIMEOUT": "8"}
    try:
        result = subprocess.run([sys.executable, "-m", "smyth", "up", "-d", "--base-image",
                                 base_image], cwd=root, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=300, check=False,
                                env={**os.environ, **env_timeout})
        assert result.returncode == 1, result.stdout
        assert "not ready within 8 s" in result.stdout
        assert f"replica sleepy (container {project}-sleepy-0)" in result.stdout
        assert '"state":"starting"' in result.stdout
    finally:
        smyth(root, "down", check=False)
        sweep(docker_client, project)


def test_no_build_without_the_image_says_what_to_do(tmp_path, docker_client):
    project = project_name("nobuild")
    root = write_project(tmp_path / "nobuild", stack_config(project, HANDLERS, "lifecycle"),
                         FILES)
    try:
        result = smyth(root, "up", "-d", "--no-build", "--base-image", "smyth-none:x",
                       check=False)
        assert result.returncode == 1
        assert "does not exist and --no-build was given; run smyth up --build" in result.stdout
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)
