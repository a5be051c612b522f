"""Every event format end to end: a real `smyth run`, real HTTP, one handler per format."""

from __future__ import annotations

import base64

import httpx
import pytest
from conftest import SmythRun, write_project

FORMATS = {"http-api": "http-api", "rest-api": "rest-api", "function-url": "function-url",
           "alb": "alb", "alb-multi": "alb"}
IMAGE = bytes(range(256))

APP = """
import base64, json

def respond(event, status, body, headers, cookies=(), is_base64=False):
    # Answer in the shape of the event's format, as a framework adapter would.
    result = {"statusCode": status, "body": body, "isBase64Encoded": is_base64}
    if event.get("version") == "2.0":
        result.update(headers=headers, cookies=list(cookies))
    elif "multiValueHeaders" in event:  # REST, or an ALB with multi-value headers
        result["multiValueHeaders"] = {**{k: [v] for k, v in headers.items()},
                                       "Set-Cookie": list(cookies)}
    else:  # ALB single-value: one header per name, so cookies need the case trick
        names = ["Set-Cookie", "set-cookie", "SET-COOKIE"]
        result["headers"] = {**headers, **dict(zip(names, cookies))}
    return result

def handler(event, context):
    path = event.get("rawPath") or event["path"]
    action = path.strip("/").split("/")[1]
    if action == "echo":
        return respond(event, 200, json.dumps(event), {"content-type": "application/json"})
    if action == "image":
        return respond(event, 201, base64.b64encode(bytes(range(256))).decode(),
                       {"content-type": "image/png"}, ["a=1; Path=/", "b=2; HttpOnly"], True)
    if action == "reply":  # the result the test sent
        body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"]
        return json.loads(body)
    if action == "once":  # count the calls, then fail
        with open("calls.log", "a") as log:
            log.write(path + "\\n")
        raise RuntimeError("failing once")
    if action == "big":
        return respond(event, 200, "x" * int(path.rsplit("/", 1)[1]), {"content-type": "text/plain"})
    raise RuntimeError("boom")
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tables = "".join(f"""
        [tool.smyth.handlers.{name.replace("-", "_")}]
        handler_path = "app.handler"
        url_path = "/{name}/{{rest:path}}"
        event_format = "{fmt}"
        alb_multi_value_headers = {"true" if name == "alb-multi" else "false"}
        """ for name, fmt in FORMATS.items())
    root = write_project(tmp_path_factory.mktemp("formats") / "p", tables, {"app.py": APP})
    smyth = SmythRun(root).wait_ready()
    yield smyth
    smyth.stop()


def call(run, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, run.url + path, timeout=60, **kwargs)


def echo(run, name: str, **kwargs) -> dict:
    response = call(run, kwargs.pop("method", "GET"), f"/{name}/echo" + kwargs.pop("path", ""),
                    **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("name", FORMATS)
def test_binary_bodies_both_ways(run, name):
    event = echo(run, name, method="POST", content=IMAGE,
                 headers={"content-type": "application/octet-stream"})
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == IMAGE
    text = echo(run, name, method="POST", content="é", headers={"content-type": "text/plain"})
    assert text["isBase64Encoded"] is False and text["body"] == "é"
    image = call(run, "GET", f"/{name}/image")
    assert image.status_code == 201 and image.content == IMAGE
    assert image.headers["content-type"] == "image/png"


@pytest.mark.parametrize("name", FORMATS)
def test_cookies_both_ways(run, name):
    event = echo(run, name, headers={"Cookie": "session=abc; theme=dark"})
    if name in ("http-api", "function-url"):
        assert event["cookies"] == ["session=abc", "theme=dark"]
    else:  # 1.0 and ALB pass the Cookie header on as it came
        headers = event.get("headers") or {k: v[-1] for k, v in event["multiValueHeaders"].items()}
        assert headers["cookie"] == "session=abc; theme=dark"
    response = call(run, "GET", f"/{name}/image")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_repeated_headers_and_query_values_per_format(run):
    kwargs = {"path": "/a%20b?tag=x&tag=y%2Bz", "headers": [("X-Multi", "1"), ("X-Multi", "2")]}
    http = echo(run, "http-api", **kwargs)
    assert http["headers"]["x-multi"] == "1,2"
    assert http["queryStringParameters"] == {"tag": "x,y+z"}
    rest = echo(run, "rest-api", **kwargs)
    assert rest["path"] == "/rest-api/echo/a b"
    assert (rest["headers"]["x-multi"], rest["multiValueHeaders"]["x-multi"]) == ("2", ["1", "2"])
    assert rest["queryStringParameters"] == {"tag": "y+z"}
    assert rest["multiValueQueryStringParameters"] == {"tag": ["x", "y+z"]}
    single = echo(run, "alb", **kwargs)
    assert single["path"] == "/alb/echo/a%20b"  # an ALB decodes neither path nor query
    assert single["headers"]["x-multi"] == "2"
    assert single["queryStringParameters"] == {"tag": "y%2Bz"}
    multi = echo(run, "alb-multi", **kwargs)
    assert multi["multiValueHeaders"]["x-multi"] == ["1", "2"]
    assert multi["multiValueQueryStringParameters"] == {"tag": ["x", "y%2Bz"]}
    assert "headers" not in multi and "queryStringParameters" not in multi


@pytest.mark.parametrize("name, status, body", [
    ("http-api", 200, b"Hello"), ("function-url", 200, b'"Hello"'),
    ("rest-api", 502, b'{"message": "Internal server error"}'),
])
def test_a_plain_string_result(run, name, status, body):
    response = call(run, "POST", f"/{name}/reply", json="Hello")
    assert (response.status_code, response.content) == (status, body)


ERRORS = {
    "http-api": (500, "application/json", b'{"message":"Internal Server Error"}'),
    "rest-api": (502, "application/json", b'{"message": "Internal server error"}'),
    "function-url": (502, "text/plain; charset=utf-8", b"Internal Server Error"),
    "alb": (502, "text/html", b"<center><h1>502 Bad Gateway</h1></center>"),
    "alb-multi": (502, "text/html", b"<center><h1>502 Bad Gateway</h1></center>"),
}


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("action, payload", [
    ("boom", None), ("reply", {"statusCode": "not a status", "body": "x"})])
def test_function_errors_and_malformed_results(run, name, action, payload):
    response = call(run, "POST", f"/{name}/{action}", json=payload)
    status, content_type, body = ERRORS[name]
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert body in response.content


@pytest.mark.parametrize("name", FORMATS)
def test_a_failed_invocation_is_not_retried(run, name):
    # "API Gateway does not retry any Lambda invocations"; neither do function URLs or ALBs.
    assert call(run, "GET", f"/{name}/once/{name}").status_code == ERRORS[name][0]
    calls = (run.project / "calls.log").read_text().splitlines()
    assert calls.count(f"/{name}/once/{name}") == 1


SIZES = {  # the largest body each front door passes on
    "http-api": 10 * 1024 * 1024, "rest-api": 10 * 1024 * 1024,
    "function-url": 6 * 1024 * 1024, "alb": 1024 * 1024, "alb-multi": 1024 * 1024,
}


@pytest.mark.parametrize("name", FORMATS)
def test_request_over_the_front_doors_limit_is_refused(run, name):
    response = call(run, "POST", f"/{name}/echo", content=b"x" * (SIZES[name] + 1),
                    headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert call(run, "GET", f"/{name}/echo").status_code == 200  # and nothing is stuck


@pytest.mark.parametrize("name, body", [
    ("http-api", {"message": "Internal Server Error"}),
    ("rest-api", {"message": "Internal server error"}),
])
def test_event_over_lambdas_6_mb_is_rejected_as_api_gateway_does(run, name, body):
    # Under API Gateway's 10 MB but over Lambda's 6 MB: the invoke fails, API Gateway says 500.
    response = call(run, "POST", f"/{name}/echo", content=b"x" * (7 * 1024 * 1024),
                    headers={"content-type": "text/plain"})
    assert (response.status_code, response.json()) == (500, body)
    assert "exceeds Lambda's 6 MB synchronous limit" in run.output


@pytest.mark.parametrize("name, size", [("alb", 1024 * 1024), ("function-url", 6 * 1024 * 1024)])
def test_result_over_the_response_limit_is_a_bad_gateway(run, name, size):
    assert call(run, "GET", f"/{name}/big/1000").status_code == 200
    response = call(run, "GET", f"/{name}/big/{size}")
    assert response.status_code == 502
