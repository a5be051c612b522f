"""REST API payload 1.0: the event against AWS SAM's sample, and the response rules."""

from __future__ import annotations

import base64
import json
import re

import pytest
from samples import http_request, result_json, sam_event, shape_differences

from smyth.events import get_format
from smyth.events.base import MalformedResponseError

NOW = 1_428_582_896.0


@pytest.fixture
def fmt():
    return get_format("rest-api")


def test_event_matches_sams_sample_key_by_key(fmt):
    request = http_request("POST", "/path/to/resource", "foo=bar",
                           headers=[("content-type", "application/octet-stream")],
                           body=b'{"test":"body"}\xff', route="/{proxy:path}",
                           params={"proxy": "path/to/resource"})
    event = fmt.build_event(request, "r", NOW)
    sample = sam_event("apigateway", "aws-proxy")
    # SAM's sample predates these keys; the API Gateway guide's 1.0 example has them.
    documented = {"requestContext.domainName", "requestContext.domainPrefix",
                  "requestContext.extendedRequestId", "requestContext.identity.principalOrgId"}
    assert shape_differences(event, sample, may_add=documented, nullable={"stageVariables"}) == []
    assert "version" not in event and "version" not in sample
    for key in ("resource", "httpMethod", "isBase64Encoded", "queryStringParameters",
                "multiValueQueryStringParameters"):
        assert event[key] == sample[key], key
    assert event["path"] == sample["path"] == "/path/to/resource"
    context, sample_context = event["requestContext"], sample["requestContext"]
    assert context["resourcePath"] == sample_context["resourcePath"] == "/{proxy+}"
    assert context["httpMethod"] == "POST" and context["protocol"] == "HTTP/1.1"
    assert context["requestTimeEpoch"] == sample_context["requestTimeEpoch"]
    assert context["requestTime"] == sample_context["requestTime"]
    assert set(context["identity"]) == set(sample_context["identity"]) | {"principalOrgId"}
    assert base64.b64decode(event["body"]) == b'{"test":"body"}\xff'


def test_single_and_multi_value_views(fmt):
    request = http_request(query="a=1&a=2&b=x%20y", headers=[
        ("x-multi", "one"), ("x-multi", "two"), ("cookie", "session=abc")])
    event = fmt.build_event(request, "r", NOW)
    assert event["headers"]["x-multi"] == "two"  # the last value
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["headers"]["cookie"] == "session=abc"  # 1.0 has no cookies field
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] is None
    assert event["resource"] == "/items/{id}" and event["requestContext"]["stage"] == "local"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["requestContext"]["requestId"])


def test_empty_request_has_nulls_where_aws_has_them(fmt):
    event = fmt.build_event(http_request(route="/", path="/", params={}), "r", NOW)
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_headers_and_multi_value_headers_are_merged(fmt):
    response = fmt.response_for(result_json({
        "statusCode": 200, "body": "ok",
        "headers": {"Content-Type": "text/plain", "X-Both": "same", "X-Single": "s"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["same", "other"]}}))
    assert response.headers == [("set-cookie", "a=1"), ("set-cookie", "b=2"),
                                ("x-both", "same"), ("x-both", "other"),
                                ("content-type", "text/plain"), ("x-single", "s")]


def test_binary_body_and_the_older_base64_flag(fmt):
    data = base64.b64encode(bytes(range(256))).decode()
    assert fmt.response_for(result_json({"statusCode": 200, "isBase64Encoded": True,
                                         "body": data})).body == bytes(range(256))
    # base64Encoded wins over isBase64Encoded when both are given (AWS SAM's trials)
    assert fmt.response_for(result_json({"statusCode": 200, "isBase64Encoded": True,
                                         "base64Encoded": False, "body": data})).body == data.encode()


def test_lenient_where_api_gateway_is(fmt):
    response = fmt.response_for(result_json({"body": "no status", "cookies": ["ignored"]}))
    assert (response.status, response.body) == (200, b"no status")
    assert response.headers == [("content-type", "application/json")]
    assert fmt.response_for(result_json({"statusCode": "404", "body": 7})).body == b"7"


@pytest.mark.parametrize("result", [
    "Hello", {"message": "not a proxy result"}, {"statusCode": 200, "Body": "wrong case"},
    {"statusCode": 200, "multiValueHeaders": {"x": "not a list"}}, {"statusCode": 0},
    {"statusCode": 200, "body": ["a"]},
])
def test_malformed_results(fmt, result):
    with pytest.raises(MalformedResponseError):
        fmt.response_for(result_json(result))


def test_error_answers(fmt):
    error = fmt.function_error()
    assert (error.status, error.body) == (502, b'{"message": "Internal server error"}')
    rejected = fmt.invoke_rejected()
    assert (rejected.status, json.loads(rejected.body)) == (500, {"message": "Internal server error"})
    timed_out = fmt.integration_timed_out()
    assert (timed_out.status, json.loads(timed_out.body)) == (
        504, {"message": "Endpoint request timed out"})
    assert fmt.integration_timeout == 29.0
    assert fmt.request_too_large().status == 413
