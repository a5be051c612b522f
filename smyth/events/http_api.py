"""API Gateway HTTP API, Lambda proxy payload format 2.0 (aws-contracts.md §1, §3)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from smyth.events.base import (
    API_GATEWAY_HEADER_LIMIT,
    EventFormat,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    json_response,
)
from smyth.events.utils import (
    apigw_request_id,
    apigw_route_path,
    body_bytes,
    clf_time,
    encode_body,
    fold_headers,
    query_pairs,
    single_headers,
    status_code,
    trace_id,
    with_default_content_type,
)

API_ID = "smythlocal"


def route_key(request: HttpRequest) -> str:
    return f"ANY {apigw_route_path(request.route_template)}"


def request_headers(request: HttpRequest, now: float) -> list[tuple[str, str]]:
    """The client's headers plus those API Gateway adds on the way to Lambda."""
    headers = [(k, v) for k, v in request.headers if k != "cookie"]
    names = {k for k, _ in headers}
    added = {
        "x-forwarded-for": request.source_ip,
        "x-forwarded-port": str(request.server_port),
        "x-forwarded-proto": request.scheme,
        "x-amzn-trace-id": trace_id(now),
    }
    headers += [(k, v) for k, v in added.items() if k not in names]
    return headers


def request_cookies(request: HttpRequest) -> list[str]:
    cookies: list[str] = []
    for name, value in request.headers:
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
    return cookies


def domain_name(request: HttpRequest, default: str) -> str:
    host = request.header("host") or default
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host  # no port, as on AWS


def is_inferred(result: Any) -> bool:
    """Valid JSON without ``statusCode``: payload 2.0 infers a 200 JSON response."""
    return not isinstance(result, dict) or "statusCode" not in result


class HttpApiFormat(EventFormat):
    name = "http-api"
    # Users report 503 {"message":"Service Unavailable"} past the HTTP API's fixed 30 s
    # (aws-contracts.md §3); AWS documents only the quota.
    integration_timeout: ClassVar[float | None] = 30.0
    max_request_headers: ClassVar[int] = API_GATEWAY_HEADER_LIMIT

    def route_key(self, request: HttpRequest) -> str:
        return route_key(request)

    def request_context(self, request: HttpRequest, now: float, key: str) -> dict[str, Any]:
        host = domain_name(request, f"{API_ID}.execute-api.{self.options.region}.amazonaws.com")
        return {
            "accountId": self.options.account_id,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": f"HTTP/{request.http_version}",
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent", ""),
            },
            "requestId": apigw_request_id(),
            "routeKey": key,
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": int(now * 1000),
        }

    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        key = self.route_key(request)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": key,
            "rawPath": request.path,
            "rawQueryString": request.query_string,
        }
        cookies = request_cookies(request)
        if cookies:
            event["cookies"] = cookies
        event["headers"] = fold_headers(request_headers(request, now))
        query = query_pairs(request.query_string)
        if query:
            event["queryStringParameters"] = fold_headers(query)
        event["requestContext"] = self.request_context(request, now, key)
        body, is_base64 = encode_body(request.body, request.header("content-type"))
        if body is not None:
            event["body"] = body
        if request.path_params:
            event["pathParameters"] = dict(request.path_params)
        event["isBase64Encoded"] = is_base64
        return event

    def response_for(self, payload: bytes) -> HttpResponse:
        result = self.decode(payload)
        if is_inferred(result) and not isinstance(result, str):
            # The inferred body is the function's JSON exactly as its runtime wrote it.
            return HttpResponse(200, [("content-type", "application/json")], payload)
        return self.build_response(result)

    def inferred_body(self, result: Any) -> bytes:
        """The body API Gateway infers from a result without ``statusCode``: a string is the
        body itself (``"Hello"`` → ``Hello``), any other JSON value its text."""
        # A lone surrogate ("\ud800" in the JSON) has no UTF-8 form: it becomes "?".
        text = result if isinstance(result, str) else json.dumps(result)
        return text.encode("utf-8", "replace")

    def build_response(self, result: Any) -> HttpResponse:
        if is_inferred(result):
            return HttpResponse(200, [("content-type", "application/json")],
                                self.inferred_body(result))
        status = status_code(result["statusCode"])
        headers = single_headers(result.get("headers"))
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponseError("cookies must be a list of strings")
        headers += [("set-cookie", str(cookie)) for cookie in cookies]
        # Other keys (multiValueHeaders, statusDescription …) are skipped, as HTTP APIs do.
        return HttpResponse(status, with_default_content_type(headers), body_bytes(result))

    def function_error(self) -> HttpResponse:
        return json_response(500, {"message": "Internal Server Error"}, compact=True)

    def invoke_rejected(self) -> HttpResponse:
        return json_response(500, {"message": "Internal Server Error"}, compact=True)

    def integration_timed_out(self) -> HttpResponse:
        return json_response(503, {"message": "Service Unavailable"}, compact=True)
