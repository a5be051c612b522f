"""Routing, the status endpoint, warm state, environment and config keys under a real smyth run."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import pytest
from conftest import wait_for, write_project

ECHO = """
import os

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    return {
        "method": event["requestContext"]["http"]["method"],
        "path": event["rawPath"],
        "params": event.get("pathParameters"),
        "count": COUNT,
        "pid": os.getpid(),
        "env": {k: os.environ.get(k) for k in ("FROM_DOTENV", "FROM_TABLE", "SHARED",
                                              "AWS_LAMBDA_FUNCTION_NAME",
                                              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")},
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
"""


@pytest.fixture
def project(tmp_path):
    root = write_project(tmp_path / "p", """
        [tool.smyth]
        log_level = "INFO"

        [tool.smyth.handlers.users]
        handler_path = "app.handler"
        url_path = "/users/{user_id}/items/{item:int}"
        memory = 512
        timeout = 7
        environment = { FROM_TABLE = "table", SHARED = "from-table" }

        [tool.smyth.handlers.files]
        handler_path = "app.handler"
        url_path = "/files/{rest:path}"
        """, {"app.py": ECHO})
    (root / ".env").write_text("FROM_DOTENV=dotenv\nSHARED=from-dotenv\n")
    return root


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_routes_with_path_parameters(project, smyth_run, method):
    run = smyth_run(project)
    with run.client() as client:
        body = client.request(method, "/users/ann/items/42").json()
    assert body["method"] == method
    assert body["path"] == "/users/ann/items/42"
    assert body["params"] == {"user_id": "ann", "item": "42"}


def test_head_and_greedy_paths_and_404(project, smyth_run):
    run = smyth_run(project)
    with run.client() as client:
        assert client.get("/files/a/b/c.txt").json()["params"] == {"rest": "a/b/c.txt"}
        assert client.head("/files/x").status_code == 200
        missing = client.get("/users/ann/items/not-an-int")
        assert missing.status_code == 404
        assert missing.json() == {"message": "Not Found"}
        assert client.post("/nowhere").json() == {"message": "Not Found"}


def test_warm_state_persists_in_one_process(project, smyth_run):
    run = smyth_run(project)
    with run.client() as client:
        first, second, third = (client.get("/users/a/items/1").json() for _ in range(3))
    assert [first["count"], second["count"], third["count"]] == [1, 2, 3]
    assert first["pid"] == second["pid"] == third["pid"]
    assert len({first["context"]["aws_request_id"], second["context"]["aws_request_id"]}) == 2


def test_environment_and_context_follow_config(project, smyth_run):
    run = smyth_run(project)
    with run.client() as client:
        body = client.get("/users/a/items/1").json()
    assert body["env"] == {"FROM_DOTENV": "dotenv", "FROM_TABLE": "table",
                           "SHARED": "from-table",  # the handler's table wins over .env
                           "AWS_LAMBDA_FUNCTION_NAME": "users",
                           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}
    context = body["context"]
    assert context["function_name"] == "users"
    assert context["memory_limit_in_mb"] == "512"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:users"
    assert context["log_group_name"] == "/aws/lambda/users"
    assert context["log_stream_name"] == "$LATEST"
    assert 0 < context["remaining"] <= 7000


def test_env_file_key_selects_another_file(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth]
        env_file = "config/dev.env"
        [tool.smyth.handlers.users]
        handler_path = "app.handler"
        url_path = "/u/{user_id}/items/{item}"
        """, {"app.py": ECHO, "config/dev.env": "FROM_DOTENV=dev-file\n", ".env": "FROM_DOTENV=no\n"})
    run = smyth_run(project)
    with run.client() as client:
        assert client.get("/u/a/items/1").json()["env"]["FROM_DOTENV"] == "dev-file"


def test_status_endpoint_reports_replicas_and_config(project, smyth_run):
    run = smyth_run(project)
    with run.client() as client:
        client.get("/users/a/items/1")
        status = client.get("/__/status").json()
    users = status["handlers"]["users"]
    assert users["url_path"] == "/users/{user_id}/items/{item:int}"
    assert users["config"]["memory"] == 512 and users["config"]["timeout"] == 7
    [replica] = users["replicas"]
    assert replica["state"] == "warm"
    assert replica["invocations"] == 1
    assert replica["pid"] > 0 and replica["last_duration_ms"] >= 0
    [files_replica] = status["handlers"]["files"]["replicas"]
    assert files_replica["state"] == "cold" and files_replica["invocations"] == 0
    assert status["config"]["host"] == "127.0.0.1"
    assert status["config"]["path"] == str(project / "pyproject.toml")


def test_host_port_and_log_level_options(project, smyth_run):
    run = smyth_run(project, "--host", "127.0.0.2", "--log-level", "warning", "--only", "files")
    assert run.url.startswith("http://127.0.0.2:")
    with run.client() as client:
        assert client.get("/files/x").status_code == 200
        assert client.get("/users/a/items/1").status_code == 404  # --only left it out
    assert '"GET /files/x HTTP/1.1" 200' not in run.output  # access log is INFO


def test_port_from_config(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    project = write_project(tmp_path / "p", f"""
        [tool.smyth]
        port = {port}
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        """, {"app.py": "def handler(e, c):\n    return 1\n"})
    proc = subprocess.Popen([sys.executable, "-m", "smyth", "run"], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/a", timeout=5).text == "1"
            except httpx.TransportError:
                return False

        wait_for(up, 30, message="the configured port to answer")
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_handler_log_level(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.quiet]
        handler_path = "app.handler"
        url_path = "/quiet"
        log_level = "WARNING"
        [tool.smyth.handlers.chatty]
        handler_path = "app.handler"
        url_path = "/chatty"
        log_level = "DEBUG"
        """, {"app.py": """
        import logging
        def handler(event, context):
            logging.getLogger("app").debug("debug-from-%s", context.function_name)
            logging.getLogger("app").warning("warning-from-%s", context.function_name)
            return "ok"
        """})
    run = smyth_run(project)
    with run.client() as client:
        client.get("/quiet")
        client.get("/chatty")
    out = run.output
    assert "warning-from-quiet" in out and "debug-from-quiet" not in out
    assert "debug-from-chatty" in out
    # The Lambda runtime's log line shape: [LEVEL] time request-id message
    assert any(line.split(" | ", 1)[-1].startswith("[WARNING]\t") and "warning-from-chatty" in line
               for line in out.splitlines())


def test_unknown_route_behind_a_rest_api_is_403_missing_token(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        event_format = "rest-api"
        """, {"app.py": "def handler(e, c):\n    return {'statusCode': 200, 'body': 'a'}\n"})
    run = smyth_run(project)
    with run.client() as client:
        assert client.get("/a").text == "a"
        missing = client.get("/b")
    assert missing.status_code == 403
    assert missing.json() == {"message": "Missing Authentication Token"}
