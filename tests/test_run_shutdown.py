"""Shutdown: Ctrl-C and SIGTERM finish in-flight requests and leave no process behind."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest
from conftest import alive, wait_for, write_project

APP = """
import os, time

def handler(event, context):
    open(f"started-{context.aws_request_id}", "w").close()
    time.sleep(1)
    return {"pid": os.getpid()}
"""


def project(tmp_path):
    return write_project(tmp_path / "p", """
        [tool.smyth.handlers.slow]
        handler_path = "app.handler"
        url_path = "/slow"
        concurrency = 3
        [tool.smyth.handlers.idle]
        handler_path = "app.handler"
        url_path = "/idle"
        concurrency = 2
        """, {"app.py": APP})


def in_flight(url: str, count: int) -> tuple[list[threading.Thread], list[httpx.Response | None]]:
    responses: list[httpx.Response | None] = []

    def call() -> None:
        try:
            responses.append(httpx.get(url + "/slow", timeout=30))
        except httpx.TransportError:  # the gateway was killed under it
            responses.append(None)

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, responses


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_signal_with_requests_in_flight(tmp_path, smyth_run, how):
    root = project(tmp_path)
    run = smyth_run(root)
    children = wait_for(lambda: len(run.children()) >= 5 and run.children(),
                        message="five handler processes")
    threads, responses = in_flight(run.url, 3)
    wait_for(lambda: len(list(root.glob("started-*"))) == 3, message="three invocations running")
    if how == "ctrl-c":  # a terminal sends SIGINT to the whole foreground process group
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0
    for thread in threads:
        thread.join(30)
    assert [r and r.status_code for r in responses] == [200, 200, 200]
    assert not [pid for pid in children if alive(pid)]


def test_sigkill_of_the_gateway_leaves_no_handler_process(tmp_path, smyth_run):
    root = project(tmp_path)
    run = smyth_run(root)
    children = wait_for(lambda: len(run.children()) >= 5 and run.children(),
                        message="five handler processes")
    threads, _ = in_flight(run.url, 2)  # busy ones too
    wait_for(lambda: len(list(root.glob("started-*"))) == 2, message="two invocations running")
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait(10)
    wait_for(lambda: not [pid for pid in children if alive(pid)], timeout=5,
             message="every handler process to end")
    for thread in threads:
        thread.join(30)


def test_a_request_past_the_grace_period_gets_the_front_doors_error_not_a_traceback(
        tmp_path, smyth_run):
    root = write_project(tmp_path / "p", """
        [tool.smyth.handlers.stuck]
        handler_path = "app.handler"
        url_path = "/stuck"
        """, {"app.py": """
        import time

        def handler(event, context):
            open("started", "w").close()
            while True:
                time.sleep(0.1)
        """})
    run = smyth_run(root)
    answer: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answer.append(
        httpx.get(f"{run.url}/stuck", timeout=60)))
    caller.start()
    wait_for(lambda: (root / "started").exists(), message="the invocation to start")
    os.killpg(run.proc.pid, signal.SIGINT)
    assert run.proc.wait(30) == 0
    caller.join(30)
    # HTTP API's answer to a function that did not finish, as for a crash.
    assert (answer[0].status_code, answer[0].json()) == (500, {"message": "Internal Server Error"})
    assert "stopped by the shutdown before the function returned" in run.output
    assert "Traceback" not in run.output


def test_handler_processes_launched_but_never_adopted_end_with_their_supervisors(tmp_path):
    """`smyth run` launches its handler processes before its event loop exists; stopped
    before adopting them (a signal in that window), the supervisors still end them."""
    import asyncio

    from smyth.config import load_config
    from smyth.runtime.launch import launch
    from smyth.runtime.local import local_specs, supervisors

    root = write_project(tmp_path / "p", """
        [tool.smyth.handlers.two]
        handler_path = "app.handler"
        url_path = "/two"
        concurrency = 2
        """, {"app.py": "def handler(event, context):\n    return 1\n"})
    config = load_config(root / "pyproject.toml")
    specs = local_specs(config, config.handlers["two"])
    launched = [launch(spec) for spec in specs]
    assert all(process.popen.poll() is None for process in launched)

    async def stop_all() -> None:
        await asyncio.gather(*(replica.stop() for replica in supervisors(specs, launched)))

    asyncio.run(stop_all())
    assert [process.popen.poll() for process in launched] == [-signal.SIGKILL] * 2
