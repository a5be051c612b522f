"""Docker mode under the shutdown item of issue 7: `smyth down` when the containers are
already gone (removed behind its back) or run twice succeeds and leaves no labelled
container or network; two `smyth up -d` at once on one project leave exactly the model's
containers (no duplicate, no orphan) on one network, and the stack serves.

(Ctrl-C of a foreground `smyth up` and `smyth down` after `up -d`, each leaving neither a
labelled container nor a network, are in test_lifecycle.py.)
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections import Counter

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
handler_path = "app.handler"
url_path = "/hello"

[tool.smyth.handlers.pair]
handler_path = "app.handler"
url_path = "/pair"
concurrency = 2
"""

FILES = {"app.py": """
    import os
    def handler(event, context):
        return {"container": os.environ["HOSTNAME"]}
    """}

WAITING = "Waiting for another smyth up/down on this project"


def expected(project: str) -> list[str]:
    return sorted([f"{project}-gateway", f"{project}-hello-0", f"{project}-pair-0",
                   f"{project}-pair-1"])


def serves(url: str) -> set[str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/hello").status_code == 200
        return {client.get("/pair").json()["container"] for _ in range(4)}


def test_down_after_the_containers_were_removed_behind_its_back_and_down_twice(
        tmp_path, docker_client, base_image):
    project = project_name("gone")
    root = write_project(tmp_path / "gone", stack_config(project, HANDLERS, "teardown"), FILES)
    try:
        smyth(root, "up", "-d", "--base-image", base_image)
        containers, networks = labelled(docker_client, project)
        assert sorted(containers) == expected(project) and len(networks) == 1
        for name in containers:  # as `docker rm -f` would
            docker_client.containers.get(name).remove(force=True)

        down = smyth(root, "down")
        assert f"Removed 0 container(s) and 1 network(s) of project {project}" in down.stdout
        assert labelled(docker_client, project) == ([], [])

        again = smyth(root, "down")
        assert f"Removed 0 container(s) and 0 network(s) of project {project}" in again.stdout
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)


def test_two_ups_at_once_leave_one_stack(tmp_path, docker_client, base_image):
    """Both are started while the test holds the project's lock, so both are certainly
    running at once (each says it waits); released, they race for it."""
    project = project_name("twice")
    root = write_project(tmp_path / "twice", stack_config(project, HANDLERS, "teardown"), FILES)
    (root / ".smyth").mkdir()
    logs = [open(tmp_path / f"up{i}.log", "w+") for i in range(2)]  # noqa: SIM115
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(root / ".smyth" / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            procs = [subprocess.Popen(
                [sys.executable, "-m", "smyth", "up", "-d", "--base-image", base_image],
                cwd=root, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}) for log in logs]
            wait_for(lambda: all(WAITING in (tmp_path / f"up{i}.log").read_text()
                                 for i in range(2)),
                     timeout=120, interval=0.1, message="both ups to wait for the lock")
            assert labelled(docker_client, project) == ([], [])  # neither has started
        codes = [proc.wait(600) for proc in procs]
        outputs = [(tmp_path / f"up{i}.log").read_text() for i in range(2)]
        assert codes == [0, 0], outputs

        containers, networks = labelled(docker_client, project)
        assert sorted(containers) == expected(project), outputs
        assert len(networks) == 1, networks
        running = docker_client.containers.list(filters={"label": f"dev.smyth.project={project}"})
        assert sorted(c.name for c in running) == expected(project)
        roles = Counter(c.labels.get("dev.smyth.role") for c in running)
        assert roles == {"gateway": 1, "worker": 3}
        # Both printed the stack's URL: the same one, and it serves from both replicas.
        url = gateway_url(docker_client, project)
        assert all(url.rsplit(":", 1)[1] in output for output in outputs), outputs
        assert len(serves(url)) == 2

        smyth(root, "down")
        assert labelled(docker_client, project) == ([], [])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
        sweep(docker_client, project)


def test_ctrl_c_while_waiting_for_the_lock_starts_and_stops_nothing(tmp_path, docker_client,
                                                                     base_image):
    project = project_name("waitint")
    root = write_project(tmp_path / "waitint", stack_config(project, HANDLERS, "teardown"),
                         FILES)
    (root / ".smyth").mkdir()
    log_path = tmp_path / "up.log"
    try:
        with open(root / ".smyth" / "lock", "a") as lock, open(log_path, "w+") as log:
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.Popen(
                [sys.executable, "-m", "smyth", "up", "--base-image", base_image], cwd=root,
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                wait_for(lambda: WAITING in log_path.read_text(), timeout=60, interval=0.1,
                         message="up to wait for the lock")
                proc.send_signal(2)
                assert proc.wait(30) == 130
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert "nothing was started" in log_path.read_text()
        assert "Stopping stack" not in log_path.read_text()
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)

