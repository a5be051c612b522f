"""Invocation logs as CloudWatch shows them, prefixed with the handler (and replica) name,
in colour on a terminal."""

from __future__ import annotations

import math
import re
import signal
import sys

import httpx
import pexpect
import pytest
from conftest import SmythRun, wait_for, write_project

APP = """
import logging, os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(60)
    if event.get("exit"):
        os._exit(3)
    print("printed line")
    logging.getLogger().warning("logged line")
    return "ok"
"""
CONFIG = """
    [tool.smyth.handlers.solo]
    handler_path = "app.handler"
    url_path = "/solo"
    memory = 256
    timeout = 1
    [tool.smyth.handlers.pair]
    handler_path = "app.handler"
    url_path = "/pair"
    concurrency = 2
    """
REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d\d) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<max>\d+) MB(?:\tInit Duration: (?P<init>\d+\.\d\d) ms)?"
    r"(?:\tStatus: (?P<status>\w+))?(?:\tError Type: (?P<error_type>[\w.]+))?$")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = write_project(tmp_path_factory.mktemp("logs") / "p", CONFIG, {"app.py": APP})
    smyth = SmythRun(root).wait_ready()
    yield smyth
    smyth.stop()


def invoke(url: str, name: str, event: bytes = b"{}") -> str:
    response = httpx.post(f"{url}/2015-03-31/functions/{name}/invocations", content=event,
                          timeout=60)
    assert response.status_code == 200
    return response.headers["x-amzn-requestid"]


def lines_of(run: SmythRun, request_id: str) -> list[str]:
    wait_for(lambda: f"REPORT RequestId: {request_id}" in run.output, 10,
             message="the invocation's REPORT line")
    # The handler's own lines, not the gateway's log lines about the same request.
    return [line for line in run.output.splitlines()
            if request_id in line and re.match(r"\S+ \| ", line)]


def test_start_end_report_with_init_duration_on_the_cold_start_only(run):
    cold, warm = invoke(run.url, "solo"), invoke(run.url, "solo")
    first = lines_of(run, cold)
    assert first[0] == f"solo | START RequestId: {cold} Version: $LATEST"
    assert re.fullmatch(rf"solo \| \[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t"
                        rf"{cold}\tlogged line", first[1])
    assert first[2] == f"solo | END RequestId: {cold}"
    report = REPORT.fullmatch(first[3].removeprefix("solo | "))
    assert report and report["memory"] == "256" and int(report["max"]) > 0
    assert report["init"] is not None and report["status"] is None
    # Since August 2025 Lambda bills the INIT phase: Billed Duration covers both.
    assert int(report["billed"]) == max(1, math.ceil(float(report["duration"])
                                                     + float(report["init"])))
    assert "solo | printed line" in run.output
    second = REPORT.fullmatch(lines_of(run, warm)[-1].removeprefix("solo | "))
    assert second and second["init"] is None
    assert int(second["billed"]) == max(1, math.ceil(float(second["duration"])))
    assert "\x1b[" not in run.output  # not a terminal: no colour


def test_replicas_are_named_when_there_are_several(run):
    request_id = invoke(run.url, "pair")
    assert re.fullmatch(rf"pair\[[01]\] \| START RequestId: {request_id} Version: \$LATEST",
                        lines_of(run, request_id)[0])


def test_timeout_and_crash_still_end_with_end_and_report(run):
    timed_out = invoke(run.url, "solo", b'{"sleep": true}')
    end, report = lines_of(run, timed_out)[-2:]
    assert end == f"solo | END RequestId: {timed_out}"
    fields = REPORT.fullmatch(report.removeprefix("solo | "))
    assert fields and fields["duration"] == "1000.00" and fields["status"] == "timeout"
    crashed = invoke(run.url, "solo", b'{"exit": true}')
    fields = REPORT.fullmatch(lines_of(run, crashed)[-1].removeprefix("solo | "))
    assert fields and (fields["status"], fields["error_type"]) == ("error", "Runtime.ExitError")


def test_prefix_is_coloured_on_a_terminal(tmp_path):
    project = write_project(tmp_path / "p", CONFIG, {"app.py": APP})
    child = pexpect.spawn(sys.executable, ["-m", "smyth", "run", "--port", "0"], cwd=str(project),
                          timeout=60, encoding="utf-8")
    try:
        child.expect(r"Smyth serving .* on (http://\S+)")
        url = child.match.group(1)
        request_id = invoke(url, "solo")
        # Each handler has a colour of its own: the first is cyan (36), the second yellow.
        child.expect_exact(f"\x1b[36msolo\x1b[0m | START RequestId: {request_id}")
        request_id = invoke(url, "pair")
        child.expect(rf"\x1b\[33mpair\[[01]\]\x1b\[0m \| START RequestId: {request_id}")
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
