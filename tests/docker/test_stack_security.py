"""Security defaults of ``smyth up`` against the real engine, on one stack started with a
debugged handler and secrets in every place a value can come from (the handler's
``environment``, the ``.env`` file, the environment of ``smyth up`` itself)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

from smyth.redact import MASK
from smyth.stack.model import default_user

pytestmark = pytest.mark.docker

# Each value is unique, so finding one anywhere says exactly where it leaked from.
TABLE_SECRET = "table-secret-2b8e41"
DOTENV_SECRET = "dotenv-secret-7c1d90"
PROCESS_SECRET = "process-secret-f4a3c6"
TABLE_PLAIN = "table-plain-93ad"
DOTENV_PLAIN = "dotenv-plain-0e7b"
SECRETS = (TABLE_SECRET, DOTENV_SECRET, PROCESS_SECRET)

HANDLERS = f"""
[tool.smyth.handlers.hello]
handler_path = "app.handler"
url_path = "/hello"
concurrency = 2
log_level = "DEBUG"
environment = {{ API_KEY = "{TABLE_SECRET}", GREETING = "{TABLE_PLAIN}" }}

[tool.smyth.handlers.plain]
handler_path = "app.handler"
url_path = "/plain"
"""

APP = """
import logging
import os

def handler(event, context):
    print("plain values:", os.environ.get("GREETING"), os.environ["DOTENV_PLAIN"])
    logging.getLogger().debug("handler debug line")
    return {"uid": os.getuid(), "euid": os.geteuid(), "API_KEY": os.environ.get("API_KEY"),
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "process_secret_seen": any("process-secret" in v for v in os.environ.values())}
"""

DOTENV = f"""
AWS_SECRET_ACCESS_KEY={DOTENV_SECRET}
DOTENV_PLAIN={DOTENV_PLAIN}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_client, base_image) -> Iterator[dict[str, Any]]:
    project = project_name("secure")
    # The gateway logs at trace level: its most talkative, where a leak would show.
    config = stack_config(project, HANDLERS, "secure-example").replace(
        "port = 0\n", 'port = 0\nlog_level = "TRACE"\n', 1)
    root = write_project(tmp_path_factory.mktemp("secure") / "example", config,
                         {"app.py": APP, ".env": DOTENV})
    try:
        with pytest.MonkeyPatch.context() as patch:  # the environment of every smyth below
            patch.setenv("MY_SERVICE_TOKEN", PROCESS_SECRET)
            up = smyth(root, "up", "-d", "--debug", "hello", "--base-image", base_image)
            url = gateway_url(docker_client, project)
            yield {"root": root, "project": project, "up": up.stdout, "url": url}
            smyth(root, "down")
        assert labelled(docker_client, project) == ([], [])
    finally:
        sweep(docker_client, project)


def containers(docker_client, project: str) -> list[Any]:
    found = docker_client.containers.list(all=True, filters={
        "label": f"dev.smyth.project={project}"})
    for container in found:
        container.reload()
    return found


@pytest.mark.timeout(900)  # the first test may build the image
def test_every_container_is_unprivileged_non_root_read_only_and_loopback_published(
        stack, docker_client):
    found = containers(docker_client, stack["project"])
    roles = sorted(c.labels["dev.smyth.role"] for c in found)
    assert roles == ["gateway", "worker", "worker", "worker"]
    # As the host user, never root: here, where the tests may run as root, that is nobody.
    user = default_user(os.getuid(), os.getgid(), os.environ)
    assert user.split(":")[0] != "0"
    published: dict[str, list[tuple[str, str]]] = {}
    for container in found:
        attrs, host = container.attrs, container.attrs["HostConfig"]
        label = container.name
        assert host["Privileged"] is False, label
        assert not host["CapAdd"], label
        assert not host.get("Devices"), label
        assert attrs["Config"]["User"] == user, label
        # The project, read-only, is the one mount: no Docker socket, nothing writable.
        assert [(m["Type"], m["Source"], m["Destination"], m["RW"]) for m in attrs["Mounts"]] \
            == [("bind", str(stack["root"]), "/var/task", False)], label
        assert not any("docker" in bind for bind in host.get("Binds") or []), label
        # Every process in it runs as that user, docker-init included.
        top = container.top(ps_args="-o pid,uid,args")
        uids = {row[top["Titles"].index("UID")] for row in top["Processes"]}
        assert uids == {user.split(":")[0]}, (label, top)
        # Whatever it publishes is on the host's loopback only.
        for port, bindings in (host.get("PortBindings") or {}).items():
            assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}, (label, port)
        for port, bindings in (attrs["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", (label, port, binding)
                published.setdefault(container.labels.get("dev.smyth.handler", "gateway"),
                                     []).append((port, binding["HostIp"]))
    # The gateway's port and both debugged replicas' debugpy ports were checked above.
    assert published == {"gateway": [("8080/tcp", "127.0.0.1")],
                         "hello": [("5678/tcp", "127.0.0.1")] * 2}
    # The handler itself runs as that user.
    answer = httpx.get(f"{stack['url']}/plain", timeout=60).json()
    assert str(answer["uid"]) == user.split(":")[0] and answer["euid"] == answer["uid"]


def test_status_ps_logs_and_up_output_never_show_secret_values(stack):
    root, url = stack["root"], stack["url"]
    # The containers get the real values (only what Smyth shows is masked); the environment
    # of `smyth up` stays on the host.
    for path in ("/hello", "/hello", "/plain"):
        body = httpx.get(url + path, timeout=60).json()
        assert body["AWS_SECRET_ACCESS_KEY"] == DOTENV_SECRET
        assert body["process_secret_seen"] is False
    assert httpx.get(url + "/hello", timeout=60).json()["API_KEY"] == TABLE_SECRET

    response = httpx.get(url + "/__/status", timeout=10)
    status = response.json()
    assert status["handlers"]["hello"]["config"]["environment"] == {
        "API_KEY": MASK, "GREETING": TABLE_PLAIN}
    assert status["config"]["env_file_variables"] == {
        "AWS_SECRET_ACCESS_KEY": MASK, "DOTENV_PLAIN": DOTENV_PLAIN}

    ps = smyth(root, "ps").stdout
    assert "hello[1]" in ps and "127.0.0.1:" in ps
    # Every container's log, at its most talkative: the handler's own debug output and
    # the gateway's trace of ASGI messages (written in batches, a few ms after the answers).
    def talkative_logs() -> str | None:
        text = smyth(root, "logs").stdout
        expected = (f"plain values: {TABLE_PLAIN} {DOTENV_PLAIN}", "handler debug line", "ASGI [")
        return text if all(line in text for line in expected) else None

    logs = wait_for(talkative_logs, timeout=30,
                    message="the handlers' and the gateway's lines in the logs")
    debug = smyth(root, "debug", "hello", "--url", url).stdout
    assert "Smyth: attach hello[1]" in debug
    outputs = {"status": response.text, "ps": ps, "logs": logs, "debug": debug,
               "up": stack["up"]}
    for where, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret)


def test_compose_file_is_the_owners_only_and_gitignored(stack):
    state = Path(stack["root"]) / ".smyth"
    compose_file = state / "compose.yaml"
    assert oct(compose_file.stat().st_mode & 0o777) == oct(0o600)
    assert TABLE_SECRET in compose_file.read_text()  # it must run as written
    assert (state / ".gitignore").read_text() == "*\n"
