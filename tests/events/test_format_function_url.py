"""Function URL events and responses (the Lambda developer guide, "Invoking Lambda function
URLs": request and response payloads)."""

from __future__ import annotations

import base64

import pytest
from samples import http_request, result_json, shape_differences

from smyth.events import get_format
from smyth.events.base import MalformedResponseError

NOW = 1_631_055_022.677

# The request payload's structure as the Lambda guide documents it (its sample, with our own
# placeholder values). SAM publishes no function URL sample.
GUIDE_EVENT = {
    "version": "2.0", "routeKey": "$default", "rawPath": "/p", "rawQueryString": "a=1",
    "cookies": ["c=1"], "headers": {"h": "v"}, "queryStringParameters": {"a": "1"},
    "requestContext": {
        "accountId": "123456789012", "apiId": "<urlid>", "authentication": None,
        "authorizer": {"iam": {"accessKey": "A", "accountId": "1", "callerId": "C",
                               "cognitoIdentity": None, "principalOrgId": None,
                               "userArn": "arn", "userId": "U"}},
        "domainName": "<url-id>.lambda-url.us-west-2.on.aws", "domainPrefix": "<url-id>",
        "http": {"method": "POST", "path": "/p", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4",
                 "userAgent": "agent"},
        "requestId": "id", "routeKey": "$default", "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390},
    "body": "Hello from client!", "pathParameters": None, "isBase64Encoded": False,
    "stageVariables": None,
}


@pytest.fixture
def fmt():
    return get_format("function-url")


def test_event_matches_the_lambda_guides_sample_key_by_key(fmt):
    request = http_request("POST", "/p", "a=1", headers=[("cookie", "c=1")], body=b"Hello",
                           route="/{path:path}", params={"path": "p"})
    event = fmt.build_event(request, "r", NOW)
    # The guide: authentication is null, authorizer is set only for AWS_IAM auth (Smyth
    # serves NONE), pathParameters and stageVariables are "null or excluded".
    assert shape_differences(event, GUIDE_EVENT, may_lack={
        "requestContext.authentication", "requestContext.authorizer", "pathParameters",
        "stageVariables"}) == []
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["accountId"] == "anonymous"  # NONE auth, as Lambda sends it
    assert len(event["requestContext"]["apiId"]) == 32
    assert event["requestContext"]["time"] == "07/Sep/2021:22:50:22 +0000"
    assert event["requestContext"]["timeEpoch"] == 1631055022677


def test_binary_request_body_is_base64(fmt):
    event = fmt.build_event(http_request("POST", body=b"\x00\x01",
                                         headers=[("content-type", "image/png")]), "r", NOW)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\x01"


@pytest.mark.parametrize("payload", [b'"Hello, world!"', b'{"message": "Hello, world!"}', b"[1]"])
def test_inferred_response_is_the_functions_json_as_it_is(fmt, payload):
    # The guide's example: "Hello, world!" reaches the client with its quotes (15 bytes).
    response = fmt.response_for(payload)
    assert (response.status, response.body) == (200, payload)
    assert response.headers == [("content-type", "application/json")]


def test_custom_response_with_cookies(fmt):
    response = fmt.response_for(result_json({
        "statusCode": 201, "headers": {"Content-Type": "application/json", "My-Custom-Header": "v"},
        "body": '{"message": "Hello, world!"}',
        "cookies": ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2"]}))
    assert response.status == 201 and response.body == b'{"message": "Hello, world!"}'
    assert response.headers == [
        ("content-type", "application/json"), ("my-custom-header", "v"),
        ("set-cookie", "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT"),
        ("set-cookie", "Cookie_2=Value2")]


def test_malformed_result(fmt):
    with pytest.raises(MalformedResponseError):
        fmt.response_for(result_json({"statusCode": 200, "body": {"not": "text"}}))


def test_error_answers(fmt):
    error = fmt.function_error()
    assert (error.status, error.body) == (502, b"Internal Server Error")
    too_large = fmt.request_too_large()
    assert too_large.status == 413 and b"6291456 bytes" in too_large.body
    assert fmt.invoke_rejected().status == 413
    assert fmt.integration_timeout is None  # only the function's own timeout applies
    assert fmt.max_request_body == 6 * 1024 * 1024
