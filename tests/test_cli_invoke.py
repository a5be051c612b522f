"""`smyth invoke` as a user runs it, against a running `smyth run`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SmythRun, wait_for, write_project

from smyth.config import load_config

APP = """
import json, os

def echo(event, context):
    print("echo says hi")
    return {"event": event}

def fail(event, context):
    raise KeyError("missing")

def record(event, context):
    with open("event.tmp", "w") as file:
        json.dump(event, file)
    os.rename("event.tmp", "recorded.json")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    port = free_port()
    return write_project(tmp_path_factory.mktemp("cli") / "p", f"""
        [tool.smyth]
        port = {port}
        [tool.smyth.handlers.echo]
        handler_path = "app.echo"
        url_path = "/echo"
        [tool.smyth.handlers.fail]
        handler_path = "app.fail"
        url_path = "/fail"
        [tool.smyth.handlers.record]
        handler_path = "app.record"
        url_path = "/record"
        """, {"app.py": APP})


@pytest.fixture(scope="module")
def run(project):
    port = load_config(project).port  # serve on the config's own port, where invoke looks
    smyth = SmythRun(project, "--port", str(port)).wait_ready()
    yield smyth
    smyth.stop()


def smyth(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "smyth", "invoke", *args], cwd=cwd,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=120, check=False, env={**os.environ})


def test_prints_the_payload_using_the_configs_address(run, project):
    done = smyth("echo", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"event": {}}  # no event given: {}


def test_event_from_a_file_or_stdin(run, project, tmp_path):
    (tmp_path / "event.json").write_text('{"from": "file"}')
    from_file = smyth("echo", "--event", str(tmp_path / "event.json"), cwd=project)
    assert json.loads(from_file.stdout) == {"event": {"from": "file"}}
    piped = smyth("echo", cwd=project, stdin=b'{"from": "stdin"}')
    assert json.loads(piped.stdout) == {"event": {"from": "stdin"}}
    dash = smyth("echo", "--event", "-", cwd=project, stdin=b'{"from": "dash"}')
    assert json.loads(dash.stdout) == {"event": {"from": "dash"}}


def test_function_error_exits_1_with_the_error_payload(run, project):
    done = smyth("fail", cwd=project)
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("KeyError", "'missing'")
    assert b"the function failed: KeyError" in done.stderr


def test_tail_prints_the_log_to_stderr(run, project):
    done = smyth("echo", "--tail", "--url", run.url, cwd=project)
    assert done.returncode == 0
    log = done.stderr.decode()
    assert "START RequestId:" in log and "echo says hi" in log and "REPORT RequestId:" in log
    assert json.loads(done.stdout) == {"event": {}}


def test_event_and_dry_run_types(run, project):
    dry = smyth("record", "--type", "DryRun", cwd=project)
    assert dry.returncode == 0 and b"DryRun" in dry.stderr
    assert not (project / "recorded.json").exists()
    queued = smyth("record", "--type", "Event", cwd=project, stdin=b'{"async": true}')
    assert queued.returncode == 0 and b"Accepted" in queued.stderr and queued.stdout == b""
    wait_for((project / "recorded.json").exists, 30, message="the event to run")
    assert json.loads((project / "recorded.json").read_text()) == {"async": True}


def test_unknown_function_exits_2(run, project):
    done = smyth("nope", cwd=project)
    assert done.returncode == 2
    assert b"ResourceNotFoundException: Function not found" in done.stderr


def test_event_that_is_not_json_exits_2_naming_the_file(project, tmp_path):
    (tmp_path / "bad.json").write_text("{oops")
    done = smyth("echo", "--event", str(tmp_path / "bad.json"), cwd=project)
    assert done.returncode == 2
    assert f"the event from {tmp_path / 'bad.json'} is not JSON".encode() in done.stderr


def test_unreachable_gateway_exits_3_with_a_hint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = smyth("echo", "--url", url, cwd=tmp_path)
    assert done.returncode == 3
    assert f"cannot reach the gateway at {url}".encode() in done.stderr
    assert b"Is `smyth run`" in done.stderr


def test_port_0_in_the_config_needs_url(tmp_path):
    project = write_project(tmp_path / "p", """
        [tool.smyth]
        port = 0
        [tool.smyth.handlers.echo]
        handler_path = "app.echo"
        url_path = "/echo"
        """, {"app.py": APP})
    done = smyth("echo", cwd=project)
    assert done.returncode == 2 and b"pass --url" in done.stderr
