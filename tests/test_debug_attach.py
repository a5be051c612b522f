"""Remote attach per handler: a real DAP client against debugpy in `smyth run --debug NAME`."""

from __future__ import annotations

import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import wait_for, write_project
from dap import DAPClient

HANDLER = '''
def handler(event, context):
    name = "{name}"
    greeting = "hello from " + name + " v{version}"  # stop here
    return {{"statusCode": 200, "body": greeting}}
'''


def handler_source(name: str, version: int = 1) -> str:
    return HANDLER.format(name=name, version=version)


def stop_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if "# stop here" in line)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free ports (a handler's replicas listen on
    consecutive debug ports)."""
    while True:
        base = free_ports(1)[0]
        if base + count < 65536 and all(port_free(base + i) for i in range(count)):
            return base


def banner_port(run, name: str) -> int:
    match = re.search(rf"^\s+{name}\s.*debugpy :(\d+)$", run.output, re.MULTILINE)
    assert match, run.output
    return int(match.group(1))


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def stop_and_read(client: DAPClient, path: Path) -> tuple[int, dict[str, str]]:
    """Wait for the stop at the marked line of ``path``; return the thread and the locals."""
    thread_id, frame = client.stopped()
    assert os.path.realpath(frame["source"]["path"]) == os.path.realpath(path)
    assert frame["line"] == stop_line(path)
    return thread_id, client.locals(frame["id"])


def test_breakpoint_stops_the_invocation_and_reads_a_local(tmp_path, smyth_run, pool):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        [tool.smyth.handlers.plain]
        handler_path = "plain.handler"
        url_path = "/plain"
        """, {"hello.py": handler_source("hello"), "plain.py": handler_source("plain")})
    run = smyth_run(project, "--debug", "hello")
    port = banner_port(run, "hello")
    assert "debugpy" not in re.search(r"^\s+plain\s.*$", run.output, re.MULTILINE).group(0)
    client = DAPClient("127.0.0.1", port)
    try:
        client.attach({str(project / "hello.py"): [stop_line(project / "hello.py")]})
        response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
        thread_id, local = stop_and_read(client, project / "hello.py")
        assert local["name"] == "'hello'"
        assert not response.done()
        client.resume(thread_id)
        assert response.result(30).text == "hello from hello v1"
    finally:
        client.disconnect()
    assert run.stop() == 0
    assert run.children() == set()
    wait_for(lambda: port_free(port), message=f"debug port {port} to be released")


def test_two_handlers_debugged_at_once(tmp_path, smyth_run, pool):
    one, two = free_ports(2)
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.one]
        handler_path = "one.handler"
        url_path = "/one"
        debug = true
        debug_port = {one}
        [tool.smyth.handlers.two]
        handler_path = "two.handler"
        url_path = "/two"
        debug_port = {two}
        """, {"one.py": handler_source("one"), "two.py": handler_source("two")})
    run = smyth_run(project, "--debug", "two")  # `debug = true` for one, the flag for two
    clients = {name: DAPClient("127.0.0.1", port) for name, port in (("one", one), ("two", two))}
    try:
        for name, client in clients.items():
            path = project / f"{name}.py"
            client.attach({str(path): [stop_line(path)]})
        responses = {name: pool.submit(httpx.get, f"{run.url}/{name}", timeout=60)
                     for name in clients}
        # Both invocations stand at their breakpoints at the same time.
        stops = {name: stop_and_read(client, project / f"{name}.py")
                 for name, client in clients.items()}
        for name, (thread_id, local) in stops.items():
            assert local["name"] == repr(name)
        assert not any(response.done() for response in responses.values())
        for name, (thread_id, _) in stops.items():
            clients[name].resume(thread_id)
        assert {name: r.result(30).text for name, r in responses.items()} == {
            "one": "hello from one v1", "two": "hello from two v1"}
        replicas = {name: h["replicas"][0] for name, h in run.status()["handlers"].items()}
        assert replicas["one"]["debug_port"] == one and replicas["two"]["debug_port"] == two
    finally:
        for client in clients.values():
            client.disconnect()
    assert run.stop() == 0


def test_after_a_reload_the_new_process_listens_on_the_same_port(tmp_path, smyth_run, pool):
    (port,) = free_ports(1)
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        debug_port = {port}
        """, {"hello.py": handler_source("hello", version=1)})
    path = project / "hello.py"
    run = smyth_run(project, "--debug", "hello")

    def replica() -> dict:
        return run.status()["handlers"]["hello"]["replicas"][0]

    old_pid = replica()["pid"]
    first = DAPClient("127.0.0.1", port)
    try:
        first.attach({str(path): [stop_line(path)]})
        response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
        thread_id, _ = stop_and_read(first, path)

        # Saved while the old process stands at the breakpoint: it keeps the port until its
        # invocation is over, so its successor must not start before then.
        path.write_text(handler_source("hello", version=2))  # same lines, new code
        wait_for(lambda: replica()["generation"] == 2, 30, message="the reload")
        assert run.children() == {old_pid}

        first.resume(thread_id)
        assert response.result(30).text == "hello from hello v1"  # the old code finishes
        first.wait_closed()  # the old process is gone, and with it the first session
    finally:
        first.close()
    wait_for(lambda: replica()["pid"] not in (None, old_pid), 30, message="the new process")
    second = DAPClient("127.0.0.1", port)
    try:
        second.attach({str(path): [stop_line(path)]})
        response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
        thread_id, local = stop_and_read(second, path)
        assert local["name"] == "'hello'"
        second.resume(thread_id)
        assert response.result(30).text == "hello from hello v2"
    finally:
        second.disconnect()
    assert "cannot listen" not in run.output
    assert run.stop() == 0


def test_timeout_is_suspended_while_a_debugger_holds_the_invocation(tmp_path, smyth_run, pool):
    (port,) = free_ports(1)
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        timeout = 1
        debug_port = {port}
        """, {"hello.py": handler_source("hello")})
    path = project / "hello.py"
    run = smyth_run(project, "--debug", "hello")
    client = DAPClient("127.0.0.1", port)
    try:
        client.attach({str(path): [stop_line(path)]})
        response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
        thread_id, _ = stop_and_read(client, path)
        wait_for(lambda: "its timeout is suspended" in run.output,
                 message="the log line saying the timeout is suspended")
        # Stay stopped past the 1 s timeout: it must not fire while the debugger holds us.
        time.sleep(1.5)
        client.resume(thread_id)
        result = response.result(30)
        assert result.status_code == 200, result.text
        assert "Task timed out" not in run.output
    finally:
        client.disconnect()
    assert run.stop() == 0


def test_debug_wait_holds_the_first_invocation_until_a_client_attaches(tmp_path, smyth_run,
                                                                        pool):
    (port,) = free_ports(1)
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        debug_port = {port}
        """, {"hello.py": handler_source("hello")})
    path = project / "hello.py"
    run = smyth_run(project, "--debug", "hello", "--debug-wait")
    response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
    wait_for(lambda: "waiting for a debugger to attach" in run.output,
             message="the handler to wait for a debugger")
    client = DAPClient("127.0.0.1", port)
    try:
        # Had the invocation not waited, it would be over before this breakpoint exists.
        client.attach({str(path): [stop_line(path)]})
        thread_id, _ = stop_and_read(client, path)
        client.resume(thread_id)
        assert response.result(30).text == "hello from hello v1"
    finally:
        client.disconnect()
    assert run.stop() == 0


def test_a_taken_debug_port_fails_start_up_with_a_clear_message(tmp_path, smyth_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        project = write_project(tmp_path / "p", f"""
            [tool.smyth.handlers.hello]
            handler_path = "hello.handler"
            url_path = "/hello"
            debug_port = {port}
            """, {"hello.py": handler_source("hello")})
        run = smyth_run(project, "--debug", "hello", ready=False)
        code = run.proc.wait(30)
    assert code == 2
    assert f"cannot listen for a debugger on 127.0.0.1:{port}" in run.output
    assert "debug_port" in run.output


def test_breakpoint_call_stops_in_the_attached_ide(tmp_path, smyth_run, pool):
    (port,) = free_ports(1)
    project = write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        debug_port = {port}
        """, {"hello.py": """
        def handler(event, context):
            name = "hello"
            breakpoint()
            return {"statusCode": 200, "body": name}  # stop here
        """})
    path = project / "hello.py"
    run = smyth_run(project, "--debug", "hello")
    client = DAPClient("127.0.0.1", port)
    try:
        client.attach({})  # no breakpoints of the IDE's own: breakpoint() is the only one
        response = pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
        thread_id, local = stop_and_read(client, path)
        assert local["name"] == "'hello'"
        client.resume(thread_id)
        assert response.result(30).text == "hello"
    finally:
        client.disconnect()
    assert run.stop() == 0
