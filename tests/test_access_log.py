"""The access log the gateway writes after each response: uvicorn's line to the letter (its
own formatter is the yardstick, colours on a terminal included), for every kind of route,
after the invocation's own lines, and only at log level info or below."""

from __future__ import annotations

import logging
import os

import pytest
from conftest import wait_for, write_project
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter

from smyth.gateway.access import AccessLog

APP = """
def handler(event, context):
    print("handled", event["rawPath"])
    return {"ok": True}
"""

CONFIG = """
[tool.smyth.handlers.fixed]
handler_path = "app.handler"
url_path = "/fixed"

[tool.smyth.handlers.param]
handler_path = "app.handler"
url_path = "/items/{item}"
"""


def uvicorn_line(colours: bool, client: tuple[str, int], method: str, path: str, status: int) -> str:
    formatter = AccessFormatter(fmt=LOGGING_CONFIG["formatters"]["access"]["fmt"],
                                use_colors=colours)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 0,
                               '%s - "%s %s HTTP/%s" %d',
                               (f"{client[0]}:{client[1]}", method, path, "1.1", status), None)
    return formatter.format(record)


SCOPES = [  # (scope, status): what uvicorn prints for each is the expected line
    ({"method": "GET", "path": "/fixed", "raw_path": b"/fixed", "query_string": b"",
      "http_version": "1.1", "client": ("127.0.0.1", 50123)}, 200),
    ({"method": "POST", "path": "/items/a b", "raw_path": b"/items/a%20b",
      "query_string": b'q=1&x="y"', "http_version": "1.1", "client": ("::1", 8)}, 502),
    ({"method": "GET", "path": "/gone", "raw_path": b"/gone", "query_string": b"",
      "http_version": "1.1", "client": ("10.0.0.1", 1)}, 404),
    ({"method": "GET", "path": "/odd", "raw_path": b"/odd", "query_string": b"",
      "http_version": "1.1", "client": ("10.0.0.1", 1)}, 299),  # no phrase for it
    ({"method": "HEAD", "path": "/x", "raw_path": b"/x", "query_string": b"",
      "http_version": "1.1", "client": ("10.0.0.1", 1)}, 304),
]


@pytest.mark.parametrize("colours", [False, True], ids=["file", "terminal"])
def test_each_line_is_the_one_uvicorn_writes(tmp_path, colours):
    if colours:  # a real terminal: the gateway colours its lines as uvicorn does there
        master, slave = os.openpty()
        stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115
    else:
        stream = open(tmp_path / "access.log", "w", encoding="utf-8")  # noqa: SIM115
    with stream:
        access = AccessLog("info", stream)
        for scope, status in SCOPES:
            access(scope, status)
    if colours:
        written = os.read(master, 65536).decode().replace("\r\n", "\n")
        os.close(master)
    else:
        written = (tmp_path / "access.log").read_text()
    expected = []
    for scope, status in SCOPES:
        path = scope["raw_path"].decode()
        if scope["query_string"]:
            path += "?" + scope["query_string"].decode()
        expected.append(uvicorn_line(colours, scope["client"], scope["method"],
                                     path.replace('"', "%22"), status))
    assert written.splitlines() == expected


def test_every_route_is_logged_after_its_invocation(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", CONFIG, {"app.py": APP})
    run = smyth_run(project)
    with run.client() as client:
        assert client.get("/fixed").status_code == 200
        assert client.get("/items/7?full=1").status_code == 200  # through the router
        assert client.get("/missing").status_code == 404
        assert client.get("/__/status").status_code == 200
    lines = [
        '"GET /fixed HTTP/1.1" 200 OK',
        '"GET /items/7?full=1 HTTP/1.1" 200 OK',
        '"GET /missing HTTP/1.1" 404 Not Found',
        '"GET /__/status HTTP/1.1" 200 OK',
    ]
    def logged() -> str | None:
        text = run.output
        return text if all(line in text for line in lines) else None

    output = wait_for(logged, message="the four access lines")
    for line in lines:
        assert output.split(line)[0].rsplit("\n", 1)[-1].startswith("INFO:     127.0.0.1:")
    # A handler's line, its END and REPORT, then the gateway's line for the response.
    assert output.index("handled /fixed") < output.index("REPORT RequestId") \
        < output.index(lines[0])


def test_quiet_below_info(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", CONFIG, {"app.py": APP})
    run = smyth_run(project, "--log-level", "warning")
    with run.client() as client:
        assert client.get("/fixed").status_code == 200
    wait_for(lambda: "handled /fixed" in run.output, message="the handler's line")
    assert '"GET /fixed HTTP/1.1"' not in run.output
