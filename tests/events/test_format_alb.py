"""ALB events and responses, with and without the target group's multi-value headers."""

from __future__ import annotations

import base64
import re

import pytest
from samples import http_request, result_json, sam_event, shape_differences

from smyth.events import FormatOptions, get_format
from smyth.events.base import MalformedResponseError

NOW = 1_548_968_776.0
MULTI = {"headers": "multiValueHeaders",
         "queryStringParameters": "multiValueQueryStringParameters"}


def alb(multi: bool = False):
    return get_format("alb", FormatOptions(function_name="orders", region="us-east-2",
                                           multi_value_headers=multi))


def sample_request():
    return http_request("POST", "/path/to/resource", "query=1234ABCD&query=x%2By",
                        headers=[("accept", "text/html"), ("accept", "*/*"),
                                 ("content-type", "application/octet-stream")],
                        body=b'{"test":"body"}', route="/{p:path}",
                        params={"p": "path/to/resource"}, raw_path="/path/to/resource")


def test_event_matches_sams_sample_key_by_key():
    event = alb().build_event(sample_request(), "r", NOW)
    sample = sam_event("alb", "request")
    assert shape_differences(event, sample) == []
    assert re.fullmatch(r"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/"
                        r"orders/[0-9a-f]{16}", event["requestContext"]["elb"]["targetGroupArn"])
    assert event["httpMethod"] == sample["httpMethod"] and event["path"] == sample["path"]
    assert event["isBase64Encoded"] is sample["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == base64.b64decode(sample["body"])
    # Without multi-value headers the last value wins, and the query stays percent-encoded.
    assert event["queryStringParameters"] == {"query": "x%2By"}
    assert event["headers"]["accept"] == "*/*"
    assert {"x-amzn-trace-id", "x-forwarded-for", "x-forwarded-port",
            "x-forwarded-proto"} <= set(event["headers"])


def test_multi_value_event_has_the_other_keys_and_never_both():
    event = alb(multi=True).build_event(sample_request(), "r", NOW)
    sample = {MULTI.get(key, key): value for key, value in sam_event("alb", "request").items()}
    sample["multiValueHeaders"] = {k: [v] for k, v in sample["multiValueHeaders"].items()}
    sample["multiValueQueryStringParameters"] = {
        k: [v] for k, v in sample["multiValueQueryStringParameters"].items()}
    assert shape_differences(event, sample) == []
    assert "headers" not in event and "queryStringParameters" not in event
    assert event["multiValueQueryStringParameters"] == {"query": ["1234ABCD", "x%2By"]}
    assert event["multiValueHeaders"]["accept"] == ["text/html", "*/*"]


def test_empty_request():
    event = alb().build_event(http_request(route="/", path="/", params={}), "r", NOW)
    assert event["body"] == "" and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {}


def test_response_uses_the_key_of_its_mode():
    result = {"statusCode": 200, "statusDescription": "200 OK", "isBase64Encoded": False,
              "headers": {"Content-Type": "text/html", "Set-Cookie": "a=1",
                          "set-cookie": "b=2"},  # the case trick for two cookies (Mangum)
              "multiValueHeaders": {"Content-Type": ["text/plain"], "Set-Cookie": ["c=3", "d=4"]},
              "body": "<h1>Hello from Lambda!</h1>"}
    single = alb().response_for(result_json(result))
    assert single.headers == [("content-type", "text/html"), ("set-cookie", "a=1"),
                              ("set-cookie", "b=2")]
    multi = alb(multi=True).response_for(result_json(result))
    assert multi.headers == [("content-type", "text/plain"), ("set-cookie", "c=3"),
                             ("set-cookie", "d=4")]
    assert single.body == multi.body == b"<h1>Hello from Lambda!</h1>"


def test_binary_response_and_no_default_content_type():
    response = alb().response_for(result_json({"statusCode": 200, "isBase64Encoded": True,
                                               "body": base64.b64encode(b"\x00\xff").decode()}))
    assert response.body == b"\x00\xff" and response.headers == []


@pytest.mark.parametrize("result", [
    "Hello", {"body": "no statusCode"}, {"statusCode": "abc"},
    {"statusCode": 200, "headers": {"x": ["a list"]}},
])
def test_malformed_results(result):
    with pytest.raises(MalformedResponseError):
        alb().response_for(result_json(result))


def test_response_over_one_megabyte_is_malformed():
    big = result_json({"statusCode": 200, "body": "x" * (1024 * 1024)})
    with pytest.raises(MalformedResponseError, match="exceeds"):
        alb().response_for(big)


def test_error_pages():
    error = alb().function_error()
    assert error.status == 502 and ("content-type", "text/html") in error.headers
    assert b"<title>502 Bad Gateway</title>" in error.body
    too_large = alb().request_too_large()
    assert too_large.status == 413 and b"413 Request Entity Too Large" in too_large.body
    assert alb().max_request_body == 1024 * 1024
