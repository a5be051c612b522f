"""The Lambda Invoke API, driven by real AWS clients: boto3 and the AWS CLI (v1)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from conftest import SmythRun, wait_for, write_project

APP = """
import json, logging, os, time

def echo(event, context):
    print("hello from echo")
    logging.getLogger().info("logged %s", event.get("n"))
    client = context.client_context
    return {"event": event, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "custom": client.custom if client else None}

def exact(event, context):
    return {"b": 1, "a": "é", "nested": [True, None, 1.5]}

def fail(event, context):
    print("about to fail")
    raise ValueError("bad input")

def chatty(event, context):
    for i in range(200):
        print(f"line {i:03d} " + "x" * 60)
    return "done"

def slow(event, context):
    print("sleeping")
    time.sleep(60)

def record(event, context):
    with open("event.tmp", "w") as file:
        json.dump(event, file)
    os.rename("event.tmp", f"event-{event['id']}.json")  # appears whole, never half-written

def block(event, context):
    while not os.path.exists("release"):
        time.sleep(0.01)
    return "released"

def big(event, context):
    return "x" * (6 * 1024 * 1024 + 1)
"""

HANDLERS = {"echo": "", "exact": "", "fail": "", "chatty": "", "slow": "timeout = 1",
            "record": "", "block": "max_queue = 0", "big": ""}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tables = "".join(f"""
        [tool.smyth.handlers.{name}]
        handler_path = "app.{name}"
        url_path = "/{name}"
        {extra}
        """ for name, extra in HANDLERS.items())
    root = write_project(tmp_path_factory.mktemp("invoke") / "p", tables, {"app.py": APP})
    smyth = SmythRun(root).wait_ready()
    yield smyth
    smyth.stop()


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory):
    """Dummy credentials through the environment, and no user AWS config in the way."""
    home = tmp_path_factory.mktemp("aws")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(home / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


@pytest.fixture(scope="module")
def client(run, aws_env):
    # No retries: a throttled or failed call must show as it is, once.
    return boto3.client("lambda", endpoint_url=run.url,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


def payload(response) -> bytes:
    return response["Payload"].read()


def test_request_response(client):
    response = client.invoke(FunctionName="echo", Payload=b'{"n": 1}')
    body = json.loads(payload(response))
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"n": 1}
    assert response["ResponseMetadata"]["RequestId"] == body["request_id"]
    assert body["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"


def test_result_bytes_pass_through_unchanged(client):
    expected = json.dumps({"b": 1, "a": "é", "nested": [True, None, 1.5]}).encode()
    assert payload(client.invoke(FunctionName="exact")) == expected


def test_no_payload_is_an_empty_event(client):
    assert json.loads(payload(client.invoke(FunctionName="echo")))["event"] == {}


@pytest.mark.parametrize("name, qualifier, invoked", [
    ("echo:$LATEST", None, "echo:$LATEST"),
    ("echo:live", None, "echo:live"),
    ("echo", "live", "echo:live"),
    ("123456789012:function:echo", None, "echo"),
    ("arn:aws:lambda:us-east-1:123456789012:function:echo", None, "echo"),
    ("arn:aws:lambda:us-east-1:123456789012:function:echo:7", "7", "echo:7"),
])
def test_names_arns_and_qualifiers(client, name, qualifier, invoked):
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    response = client.invoke(FunctionName=name, Payload=b"{}", **kwargs)
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    arn = json.loads(payload(response))["arn"]
    assert arn == f"arn:aws:lambda:us-east-1:123456789012:function:{invoked}"


def test_conflicting_qualifiers(client):
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke(FunctionName="echo:live", Qualifier="other")


def test_unknown_function(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.invoke(FunctionName="nope", Payload=b"{}")
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope" in \
        error["Error"]["Message"]


def test_body_that_is_not_json(client):
    with pytest.raises(client.exceptions.InvalidRequestContentException) as info:
        client.invoke(FunctionName="echo", Payload=b"{not json")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("kind, size", [("RequestResponse", 6 * 1024 * 1024),
                                        ("Event", 1024 * 1024)])
def test_payload_over_the_limit(client, kind, size):
    event = json.dumps({"pad": "x" * size}).encode()
    with pytest.raises(client.exceptions.RequestTooLargeException) as info:
        client.invoke(FunctionName="echo", InvocationType=kind, Payload=event)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert f"{size} bytes" in info.value.response["Error"]["Message"]


def test_event_runs_in_the_background(client, run):
    event = {"id": "e1", "pad": "x" * (1024 * 1024 - 100)}  # just under the 1 MB async limit
    response = client.invoke(FunctionName="record", InvocationType="Event",
                              Payload=json.dumps(event).encode())
    assert response["StatusCode"] == 202 and payload(response) == b""
    written = run.project / "event-e1.json"
    wait_for(written.exists, 30, message="the event to run")
    assert json.loads(written.read_text()) == event


def test_dry_run_checks_without_running(client, run):
    before = run.status()["handlers"]["echo"]["replicas"][0]["invocations"]
    response = client.invoke(FunctionName="echo", InvocationType="DryRun")
    assert response["StatusCode"] == 204 and payload(response) == b""
    assert run.status()["handlers"]["echo"]["replicas"][0]["invocations"] == before
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", InvocationType="DryRun")


def test_function_error(client):
    response = client.invoke(FunctionName="fail", Payload=b"{}")
    error = json.loads(payload(response))
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert (error["errorMessage"], error["errorType"]) == ("bad input", "ValueError")
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert error["stackTrace"] and all("app.py" in frame for frame in error["stackTrace"])


def test_timeout(client):
    response = client.invoke(FunctionName="slow", Payload=b"{}", LogType="Tail")
    error = json.loads(payload(response))
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in log
    assert "REPORT RequestId: " in log and "Status: timeout" in log


def test_tail_log(client):
    response = client.invoke(FunctionName="echo", Payload=b'{"n": 5}', LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "hello from echo" in lines
    assert any(line.startswith("[INFO]\t") and line.endswith(f"\t{request_id}\tlogged 5")
               for line in lines)
    assert lines[-2] == f"END RequestId: {request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "LogResult" not in client.invoke(FunctionName="echo", Payload=b"{}")


def test_tail_log_of_a_failure_holds_the_error(client):
    response = client.invoke(FunctionName="fail", Payload=b"{}", LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in log and "[ERROR] ValueError: bad input" in log
    assert "Traceback (most recent call last):" in log


def test_tail_log_is_the_last_4_kb(client):
    response = client.invoke(FunctionName="chatty", Payload=b"{}", LogType="Tail")
    log = base64.b64decode(response["LogResult"])
    assert 4000 < len(log) <= 4096
    assert b"line 199" in log and b"line 000" not in log
    assert log.decode().splitlines()[-1].startswith("REPORT RequestId: ")


def test_client_context_reaches_the_handler(client):
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    response = client.invoke(FunctionName="echo", Payload=b"{}", ClientContext=context)
    assert json.loads(payload(response))["custom"] == {"tenant": "t1"}
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="echo", ClientContext="not base64 json!")
    too_long = base64.b64encode(json.dumps({"custom": {"x": "y" * 3000}}).encode()).decode()
    with pytest.raises(client.exceptions.InvalidRequestContentException, match="3583 bytes"):
        client.invoke(FunctionName="echo", ClientContext=too_long)


def test_response_over_6_mb_is_a_function_error(client):
    response = client.invoke(FunctionName="big", Payload=b"{}")
    error = json.loads(payload(response))
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Function.ResponseSizeTooLarge"


def test_full_pool_is_throttled(client, run):
    results: list[bytes] = []
    first = threading.Thread(target=lambda: results.append(
        payload(client.invoke(FunctionName="block", Payload=b"{}"))))
    first.start()
    try:
        wait_for(lambda: run.status()["handlers"]["block"]["replicas"][0]["state"] == "busy",
                 30, message="the first invocation to occupy the only replica")
        with pytest.raises(client.exceptions.TooManyRequestsException) as info:
            client.invoke(FunctionName="block", Payload=b"{}")
        response = info.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    finally:
        (run.project / "release").write_text("")
        first.join(60)
    assert results == [b'"released"']


def test_the_runtime_interface_emulators_path(tmp_path, smyth_run, run):
    # RIE serves one function, named "function"; a one-handler project answers to it too.
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.only]
        handler_path = "app.exact"
        url_path = "/only"
        """, {"app.py": APP})
    single = smyth_run(project)
    path = "/2015-03-31/functions/function/invocations"
    response = httpx.post(single.url + path, content=b"{}", timeout=30)
    assert response.status_code == 200 and response.json()["a"] == "é"
    # With several handlers the name would be ambiguous: it is unknown, as on AWS.
    assert httpx.post(run.url + path, content=b"{}", timeout=30).status_code == 404


# -- the AWS CLI -----------------------------------------------------------------------

def aws(run, env, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "awscli", "lambda", "invoke", "--endpoint-url", run.url,
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd,
                          check=False, env={**os.environ, **env})


def test_aws_cli_invoke(run, aws_env, tmp_path):
    (tmp_path / "event.json").write_text('{"n": 7}')
    done = aws(run, aws_env, "--function-name", "echo", "--payload", "file://event.json",
               "--log-type", "Tail", "out.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert "START RequestId:" in base64.b64decode(meta["LogResult"]).decode()
    assert json.loads((tmp_path / "out.json").read_text())["event"] == {"n": 7}


def test_aws_cli_function_error_and_unknown_function(run, aws_env, tmp_path):
    failed = aws(run, aws_env, "--function-name", "fail", "out.json", cwd=tmp_path)
    assert failed.returncode == 0  # the CLI reports a function error in its output
    assert json.loads(failed.stdout)["FunctionError"] == "Unhandled"
    assert json.loads((tmp_path / "out.json").read_text())["errorType"] == "ValueError"
    missing = aws(run, aws_env, "--function-name", "nope", "out.json", cwd=tmp_path)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
