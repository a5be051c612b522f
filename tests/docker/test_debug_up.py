"""`smyth up --debug NAME`: debugpy in a worker container, published on the host's loopback,
attached to by a real DAP client with the configuration `smyth debug NAME` prints."""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from dap import DAPClient
from stackkit import (  # noqa: F401  (fixtures)
    base_image,
    docker_client,
    gateway_url,
    project_name,
    smyth,
    stack_config,
    sweep,
    wait_for,
    workers,
    write_project,
)

pytestmark = pytest.mark.docker

HANDLERS = """
[tool.smyth.handlers.hello]
handler_path = "app.hello.handler"
url_path = "/hello"
timeout = 1
concurrency = 2
debug_port = {port}

[tool.smyth.handlers.plain]
handler_path = "app.hello.handler"
url_path = "/plain"
"""

HELLO = '''
def handler(event, context):
    name = "hello"
    greeting = "hello from " + name  # stop here
    return {"statusCode": 200, "body": greeting}
'''


def free_port_pair() -> int:
    """A port p with p and p + 1 both free on loopback (two replicas publish them)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no two consecutive free ports")


def test_dap_client_stops_in_a_worker_container_with_paths_mapped_to_var_task(
        tmp_path, docker_client, base_image):
    project = project_name("debug")
    port = free_port_pair()
    handlers = HANDLERS.replace("{port}", str(port))
    root = write_project(tmp_path / "example", stack_config(project, handlers, "debug-example"),
                         {"app/__init__.py": "", "app/hello.py": HELLO})
    path = root / "app" / "hello.py"
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "# stop here" in text)
    try:
        up = smyth(root, "up", "-d", "--debug", "hello", "--base-image", base_image)
        assert f"hello: debugpy on 127.0.0.1:{port}-{port + 1}" in up.stdout
        url = gateway_url(docker_client, project)
        published = sorted(
            c.attrs["NetworkSettings"]["Ports"]["5678/tcp"][0]["HostIp"] + ":" +
            c.attrs["NetworkSettings"]["Ports"]["5678/tcp"][0]["HostPort"]
            for c in workers(docker_client, project, "hello"))
        assert published == [f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"]
        assert not workers(docker_client, project, "plain")[0].attrs["NetworkSettings"]["Ports"]\
            .get("5678/tcp")

        printed = json.loads(smyth(root, "debug", "hello", "--url", url).stdout)
        configurations = {c["name"]: c for c in printed["configurations"]}
        assert sorted(configurations) == ["Smyth: attach hello[0]", "Smyth: attach hello[1]"]
        first = configurations["Smyth: attach hello[0]"]
        assert first["connect"] == {"host": "127.0.0.1", "port": port}
        assert first["pathMappings"] == [{"localRoot": str(root), "remoteRoot": "/var/task"}]

        clients = [DAPClient(c["connect"]["host"], c["connect"]["port"], timeout=60)
                   for c in configurations.values()]
        try:
            for client, configuration in zip(clients, configurations.values()):
                # The breakpoint names the file as it is on the host; debugpy maps it.
                client.attach({str(path): [line]}, configuration=configuration)
            with ThreadPoolExecutor(2) as pool:
                # Two at once: each replica takes one, and each stops at the breakpoint.
                responses = [pool.submit(httpx.get, f"{url}/hello", timeout=120)
                             for _ in clients]
                threads = []
                for client in clients:
                    thread_id, frame = client.stopped(timeout=60)
                    assert os.path.realpath(frame["source"]["path"]) == os.path.realpath(path)
                    assert frame["line"] == line
                    assert client.locals(frame["id"])["name"] == "'hello'"
                    threads.append(thread_id)
                # Stay stopped past the 1 s timeout: the worker must not time them out.
                time.sleep(1.5)
                assert not any(r.done() for r in responses)
                for client, thread_id in zip(clients, threads):
                    client.resume(thread_id)
                assert [r.result(60).text for r in responses] == ["hello from hello"] * 2
        finally:
            for client in clients:
                client.disconnect()
    finally:
        smyth(root, "down", check=False)
        sweep(docker_client, project)
