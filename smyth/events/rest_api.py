"""API Gateway REST API, Lambda proxy integration, payload 1.0 (aws-contracts.md §2, §3).

Where a REST API depends on its settings, Smyth assumes the common ones and says so:
- the request URL carries no stage (as behind a custom domain), so ``path`` and
  ``requestContext.path`` are the path as requested and ``stage`` is ``local``;
- binary media types cover every non-text content type: a text body arrives as text,
  anything else base64-encoded, and a result with ``isBase64Encoded`` is decoded;
- header names arrive lowercased (the HTTP server has already folded their case).
"""

from __future__ import annotations

from typing import Any, ClassVar

from smyth.events.base import (
    API_GATEWAY_HEADER_LIMIT,
    EventFormat,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    json_response,
)
from smyth.events.http_api import API_ID, domain_name
from smyth.events.utils import (
    apigw_request_id,
    apigw_route_path,
    body_bytes,
    clf_time,
    encode_body,
    lambda_request_id,
    last_values,
    multi_headers,
    multi_value,
    query_pairs,
    random_hex,
    single_headers,
    status_code,
    trace_id,
    with_default_content_type,
)

STAGE = "local"
# The keys API Gateway reads from a proxy result; any other key makes the result malformed.
# ``cookies`` (a 2.0 key) is tolerated and ignored; ``base64Encoded`` is an older spelling
# that takes precedence (AWS SAM found both by trial).
RESULT_KEYS = {"statusCode", "body", "headers", "multiValueHeaders", "isBase64Encoded",
               "base64Encoded", "cookies"}
IDENTITY_KEYS = ("accessKey", "accountId", "caller", "cognitoAuthenticationProvider",
                 "cognitoAuthenticationType", "cognitoIdentityId", "cognitoIdentityPoolId",
                 "principalOrgId", "sourceIp", "user", "userAgent", "userArn")


def request_headers(request: HttpRequest, now: float) -> list[tuple[str, str]]:
    """The client's headers (cookies included: 1.0 has no ``cookies`` field) plus those
    API Gateway adds on the way to Lambda."""
    headers = list(request.headers)
    names = {k for k, _ in headers}
    added = {
        "x-forwarded-for": request.source_ip,
        "x-forwarded-port": str(request.server_port),
        "x-forwarded-proto": request.scheme,
        "x-amzn-trace-id": trace_id(now),
    }
    return headers + [(k, v) for k, v in added.items() if k not in names]


class RestApiFormat(EventFormat):
    name = "rest-api"
    # "50 milliseconds - 29 seconds for all integration types" (API Gateway quotas); past
    # it the INTEGRATION_TIMEOUT gateway response answers.
    integration_timeout: ClassVar[float | None] = 29.0
    max_request_headers: ClassVar[int] = API_GATEWAY_HEADER_LIMIT

    def request_context(self, request: HttpRequest, now: float, resource: str) -> dict[str, Any]:
        host = domain_name(request, f"{API_ID}.execute-api.{self.options.region}.amazonaws.com")
        identity: dict[str, Any] = {key: None for key in IDENTITY_KEYS}
        identity.update(sourceIp=request.source_ip, userAgent=request.header("user-agent"))
        return {
            "accountId": self.options.account_id,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "extendedRequestId": apigw_request_id(),
            "httpMethod": request.method,
            "identity": identity,
            "path": request.path,
            "protocol": f"HTTP/{request.http_version}",
            "requestId": lambda_request_id(),
            "requestTime": clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": random_hex(3),
            "resourcePath": resource,
            "stage": STAGE,
        }

    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        resource = apigw_route_path(request.route_template)
        headers = request_headers(request, now)
        query = query_pairs(request.query_string)
        body, is_base64 = encode_body(request.body, request.header("content-type"))
        return {
            "resource": resource,
            "path": request.path,
            "httpMethod": request.method,
            # 1.0 keeps both views: the last value of each name, and every value.
            "headers": last_values(headers),
            "multiValueHeaders": multi_value(headers),
            "queryStringParameters": last_values(query) or None,
            "multiValueQueryStringParameters": multi_value(query) or None,
            "pathParameters": dict(request.path_params) or None,
            "stageVariables": None,
            "requestContext": self.request_context(request, now, resource),
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def build_response(self, result: Any) -> HttpResponse:
        if not isinstance(result, dict):
            raise MalformedResponseError(f"a REST API needs an object with statusCode, not "
                                         f"{type(result).__name__} (payload 1.0 infers nothing)")
        unknown = sorted(set(result) - RESULT_KEYS)
        if unknown:
            raise MalformedResponseError(f"unknown keys {', '.join(unknown)}; a proxy result "
                                         "may only hold statusCode, headers, multiValueHeaders, "
                                         "body and isBase64Encoded")
        # A missing statusCode reads as 200 on REST APIs (AWS SAM's trials; HTTP APIs with
        # payload 1.0 are stricter).
        status = status_code(result.get("statusCode", 200))
        headers = merge_headers(single_headers(result.get("headers")),
                                multi_headers(result.get("multiValueHeaders")))
        flag = "base64Encoded" if result.get("base64Encoded") is not None else "isBase64Encoded"
        return HttpResponse(status, with_default_content_type(headers), body_bytes(result, flag))

    def function_error(self) -> HttpResponse:
        return json_response(502, {"message": "Internal server error"})

    def invoke_rejected(self) -> HttpResponse:
        # "If the Lambda API rejects the invocation request, API Gateway returns a 500."
        return json_response(500, {"message": "Internal server error"})

    def integration_timed_out(self) -> HttpResponse:
        return json_response(504, {"message": "Endpoint request timed out"})

    def request_too_large(self) -> HttpResponse:
        return json_response(413, {"message": "Request Too Long"})

    def not_found(self) -> HttpResponse:
        # A REST API answers an unknown route this way (aws-contracts.md §3, as SAM emulates it).
        return json_response(403, {"message": "Missing Authentication Token"})


def merge_headers(single: list[tuple[str, str]],
                  multi: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` and ``multiValueHeaders`` merged into one list; a pair present in both
    appears once (the API Gateway developer guide's rule)."""
    seen = set(multi)
    return multi + [pair for pair in single if pair not in seen]
