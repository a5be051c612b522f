"""HTTP API payload 2.0: the event against AWS SAM's sample, and the response rules."""

from __future__ import annotations

import base64
import json
import re

import pytest
from samples import http_request, result_json, sam_event, shape_differences

from smyth.events import get_format
from smyth.events.base import MalformedResponseError

NOW = 1_583_348_638.390


@pytest.fixture
def fmt():
    return get_format("http-api")


def full_request():
    """A request with everything a 2.0 event can carry: cookies, repeated headers and query
    values, a binary body and a path parameter."""
    return http_request(
        "POST", "/items/7", "parameter1=value1&parameter1=value2&parameter2=value",
        headers=[("cookie", "cookie1=a; cookie2=b"), ("header2", "value1"), ("header2", "value2"),
                 ("content-type", "application/octet-stream")],
        body=bytes(range(8)))


def test_event_matches_sams_sample_key_by_key(fmt):
    event = fmt.build_event(full_request(), "req-1", NOW)
    sample = sam_event("apigateway", "http-api-proxy")
    # mTLS, a JWT authorizer and stage variables are API settings Smyth has none of.
    assert shape_differences(event, sample, may_lack={
        "requestContext.authentication", "requestContext.authorizer", "stageVariables"}) == []
    assert event["version"] == sample["version"] == "2.0"
    assert event["rawQueryString"] == sample["rawQueryString"]
    assert event["queryStringParameters"] == sample["queryStringParameters"]
    assert event["cookies"] == ["cookie1=a", "cookie2=b"]
    assert event["headers"]["header2"] == "value1,value2"  # as the sample's "Header2"
    # (AWS's sample itself disagrees: its timeEpoch is 4 March, its time 12 March.)
    assert event["requestContext"]["timeEpoch"] == sample["requestContext"]["timeEpoch"]
    assert event["requestContext"]["time"] == "04/Mar/2020:19:03:58 +0000"
    assert event["isBase64Encoded"] is sample["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == bytes(range(8))


def test_request_rules(fmt):
    event = fmt.build_event(http_request(), "r", NOW)
    assert "cookie" not in event["headers"] and "cookies" not in event
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "ANY /items/{id}"
    assert event["pathParameters"] == {"id": "7"}
    context = event["requestContext"]
    assert context["stage"] == "$default" and context["domainName"] == "127.0.0.1"
    assert context["http"] == {"method": "GET", "path": "/items/7", "protocol": "HTTP/1.1",
                               "sourceIp": "192.0.2.1", "userAgent": "tests/1.0"}
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert event["headers"]["x-forwarded-for"] == "192.0.2.1"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")


def test_text_body_stays_text_and_greedy_routes(fmt):
    request = http_request("PUT", "/files/a/b.txt", headers=[("content-type", "text/plain")],
                           body="héllo".encode(), route="/files/{rest:path}",
                           params={"rest": "a/b.txt"})
    event = fmt.build_event(request, "r", NOW)
    assert event["body"] == "héllo" and event["isBase64Encoded"] is False
    assert event["routeKey"] == "ANY /files/{rest+}"
    assert event["pathParameters"] == {"rest": "a/b.txt"}


@pytest.mark.parametrize("result, body", [
    ("Hello from Lambda!", b"Hello from Lambda!"),
    ({"message": "Hello from Lambda!"}, b'{"message": "Hello from Lambda!"}'),
    ([1, 2], b"[1, 2]"), (42, b"42"), (None, b"null"),
    ({"body": "no statusCode"}, b'{"body": "no statusCode"}'),
])
def test_inferred_response(fmt, result, body):
    response = fmt.response_for(result_json(result))
    assert (response.status, response.body) == (200, body)
    assert response.headers == [("content-type", "application/json")]


def test_custom_response_with_cookies_binary_body_and_header_values(fmt):
    response = fmt.response_for(result_json({
        "statusCode": "201", "isBase64Encoded": True, "cookies": ["a=1; Path=/", "b=2"],
        "headers": {"Content-Type": "image/png", "X-Count": 3, "X-Flag": True},
        "multiValueHeaders": {"x-ignored": ["not", "read"]},  # not a 2.0 key: skipped
        "body": base64.b64encode(b"\x89PNG\x00").decode()}))
    assert response.status == 201 and response.body == b"\x89PNG\x00"
    assert response.headers == [("content-type", "image/png"), ("x-count", "3"),
                                ("x-flag", "true"), ("set-cookie", "a=1; Path=/"),
                                ("set-cookie", "b=2")]


def test_content_type_defaults_to_json(fmt):
    response = fmt.response_for(result_json({"statusCode": 204}))
    assert response.headers == [("content-type", "application/json")] and response.body == b""


@pytest.mark.parametrize("result", [
    {"statusCode": "two hundred"}, {"statusCode": 99}, {"statusCode": True},
    {"statusCode": 200, "body": {"a": 1}}, {"statusCode": 200, "headers": ["x"]},
    {"statusCode": 200, "headers": {"x": {"nested": 1}}}, {"statusCode": 200, "cookies": "a=1"},
    {"statusCode": 200, "isBase64Encoded": True, "body": "not base64!"},
    {"statusCode": 200, "isBase64Encoded": "maybe", "body": ""},
])
def test_malformed_results(fmt, result):
    with pytest.raises(MalformedResponseError):
        fmt.response_for(result_json(result))


def test_error_answers(fmt):
    assert (fmt.function_error().status, fmt.function_error().body) == (
        500, b'{"message":"Internal Server Error"}')
    assert fmt.invoke_rejected().status == 500
    timed_out = fmt.integration_timed_out()
    assert (timed_out.status, json.loads(timed_out.body)) == (503, {"message": "Service Unavailable"})
    assert fmt.integration_timeout == 30.0 and fmt.max_request_body == 10 * 1024 * 1024
    assert fmt.request_too_large().status == 413
