"""The HTTP API 2.0 event and response rules, end to end through a real gateway."""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from conftest import write_project

APP = """
import base64, json

def echo(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(event)}

def image(event, context):
    data = bytes(range(256))
    return {"statusCode": 201, "isBase64Encoded": True,
            "headers": {"content-type": "image/png", "x-count": 3},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": base64.b64encode(data).decode()}

def inferred(event, context):
    kind = event["queryStringParameters"]["kind"]
    return {"dict": {"message": "hi"}, "string": "Hello from Lambda!", "list": [1, 2],
            "number": 42}[kind]

def malformed(event, context):
    return {"statusCode": "two hundred", "body": "x"}

def bad_body(event, context):
    return {"statusCode": 200, "body": {"not": "a string"}}

def generated(event, context):
    return {"custom": event.get("my_custom_data"), "route": event["routeKey"],
            "context_extra": getattr(context, "tenant_label", None)}
"""

GENERATORS = """
from smyth.event import generate_event_data

async def custom_event(request):
    event = await generate_event_data(request)
    # A custom generator gets Starlette's Request, as in the original smyth.
    event["my_custom_data"] = f"data for {request.url.path} via {request.headers['x-via']}"
    return event

async def custom_context(request, handler, process):
    return {"tenant_label": f"tenant-of-{handler.name}"}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from conftest import SmythRun

    root = write_project(tmp_path_factory.mktemp("http") / "p", """
        [tool.smyth.handlers.echo]
        handler_path = "app.echo"
        url_path = "/echo/{thing}"
        [tool.smyth.handlers.image]
        handler_path = "app.image"
        url_path = "/image"
        [tool.smyth.handlers.inferred]
        handler_path = "app.inferred"
        url_path = "/inferred"
        [tool.smyth.handlers.malformed]
        handler_path = "app.malformed"
        url_path = "/malformed"
        [tool.smyth.handlers.bad_body]
        handler_path = "app.bad_body"
        url_path = "/bad-body"
        [tool.smyth.handlers.generated]
        handler_path = "app.generated"
        url_path = "/generated"
        event_data_generator_path = "gen.custom_event"
        context_data_generator_path = "gen.custom_context"
        """, {"app.py": APP, "gen.py": GENERATORS})
    smyth = SmythRun(root).wait_ready()
    yield smyth
    smyth.stop()


def echo(run, **kwargs) -> dict:
    response = httpx.request(kwargs.pop("method", "GET"), run.url + kwargs.pop("path", "/echo/x"),
                             timeout=30, **kwargs)
    assert response.status_code == 200
    return response.json()


def test_repeated_headers_and_query_values_are_joined_with_commas(run):
    event = echo(run, path="/echo/x?a=1&a=2&b=&c=x%20y",
                 headers=[("X-Multi", "one"), ("X-Multi", "two"), ("X-Single", "s")])
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["x-single"] == "s"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "", "c": "x y"}
    assert event["rawQueryString"] == "a=1&a=2&b=&c=x%20y"


def test_cookies_array_and_no_cookie_header(run):
    event = echo(run, headers={"Cookie": "session=abc; theme=dark"})
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert "cookies" not in echo(run)


def test_request_context_fields_and_unique_ids(run):
    first, second = echo(run, method="PATCH", headers={"User-Agent": "tester/1"}), echo(run)
    context = first["requestContext"]
    assert first["version"] == "2.0" and first["routeKey"] == "ANY /echo/{thing}"
    assert first["pathParameters"] == {"thing": "x"} and first["rawPath"] == "/echo/x"
    assert context["http"] == {"method": "PATCH", "path": "/echo/x", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert context["stage"] == "$default" and context["routeKey"] == "ANY /echo/{thing}"
    assert context["accountId"] == "123456789012" and context["apiId"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert context["timeEpoch"] <= second["requestContext"]["timeEpoch"]
    assert context["requestId"] != second["requestContext"]["requestId"]
    assert first["isBase64Encoded"] is False and "body" not in first


def test_text_body_stays_text_binary_body_is_base64(run):
    text = echo(run, method="POST", content='{"a": "é"}',
                headers={"content-type": "application/json"})
    assert text["body"] == '{"a": "é"}' and text["isBase64Encoded"] is False
    blob = bytes(range(256))
    binary = echo(run, method="POST", content=blob,
                  headers={"content-type": "application/octet-stream"})
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == blob


def test_binary_response_cookies_and_header_values(run):
    response = httpx.get(run.url + "/image", timeout=30)
    assert response.status_code == 201
    assert response.content == bytes(range(256))
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-count"] == "3"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


@pytest.mark.parametrize("kind, body", [
    ("dict", '{"message": "hi"}'), ("string", "Hello from Lambda!"), ("list", "[1, 2]"),
    ("number", "42"),
])
def test_inferred_response_without_status_code(run, kind, body):
    response = httpx.get(run.url + f"/inferred?kind={kind}", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == body


@pytest.mark.parametrize("path", ["/malformed", "/bad-body"])
def test_malformed_result_is_a_500_and_logged(run, path):
    response = httpx.get(run.url + path, timeout=30)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "Malformed Lambda proxy response" in run.output


def test_custom_event_and_context_generators(run):
    body = httpx.get(run.url + "/generated", headers={"x-via": "curl"}, timeout=30).json()
    assert body == {"custom": "data for /generated via curl", "route": "ANY /generated",
                    "context_extra": "tenant-of-generated"}
