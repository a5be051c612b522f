"""VS Code's launch: `smyth run` started under debugpy stops at breakpoints in handler code,
which runs in child processes that debugpy must follow (what "subProcess": true asks for)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import BANNER, wait_for, write_project
from dap import DAPClient
from test_debug_attach import free_ports, handler_source, port_free, stop_and_read, stop_line


def test_launching_smyth_run_under_debugpy_stops_in_handler_processes(tmp_path):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        timeout = 1
        """, {"hello.py": handler_source("hello")})
    path = project / "hello.py"
    (port,) = free_ports(1)
    log_path = tmp_path / "launch.log"
    # What VS Code's launch of {"module": "smyth", "args": ["run"]} amounts to.
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-X", "frozen_modules=off", "-m", "debugpy", "--listen",
             f"127.0.0.1:{port}", "--wait-for-client", "-m", "smyth", "run", "--port", "0"],
            cwd=project, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    gateway = DAPClient("127.0.0.1", port)
    child = None
    try:
        breakpoints = {str(path): [stop_line(path)]}
        gateway.attach(breakpoints)
        # debugpy asks its client to attach to each Python child it followed.
        subprocess_config = gateway.event("debugpyAttach")
        child = DAPClient(subprocess_config["connect"]["host"], subprocess_config["connect"]["port"])
        child.attach(breakpoints, configuration=subprocess_config)
        url = wait_for(lambda: (m := BANNER.search(log_path.read_text())) and m.group(1),
                       30, message="smyth run's banner")
        with ThreadPoolExecutor(1) as pool:
            response = pool.submit(httpx.get, f"{url}/hello", timeout=60)
            thread_id, local = stop_and_read(child, path)
            assert local["name"] == "'hello'"
            wait_for(lambda: "its timeout is suspended" in log_path.read_text(),
                     message="the invocation's clock to stop")
            child.resume(thread_id)
            assert response.result(30).text == "hello from hello v1"
    finally:
        if child is not None:
            child.close()
        gateway.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    output = log_path.read_text()
    assert code == 0, output
    assert "Task timed out" not in output
    assert re.search(r"hello \| END RequestId", output)
    # debugpy's adapter lets go of its port once the debug session is over.
    wait_for(lambda: port_free(port), 30, message=f"debugpy to release port {port}")
