"""API Gateway HTTP API, Lambda proxy payload format 2.0 (aws-contracts.md §1)."""

from __future__ import annotations

import json
from typing import Any

from smyth.events.base import EventFormat, HttpRequest, HttpResponse, MalformedResponseError, json_response
from smyth.events.utils import (apigw_request_id, apigw_route_path, clf_time, decode_body,
                                encode_body, fold_headers, query_pairs, trace_id)

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


class HttpApiFormat(EventFormat):
    name = "http-api"
    version = "2.0"

    def request_context(self, request: HttpRequest, now: float, key: str) -> dict[str, Any]:
        host = request.header("host") or f"{API_ID}.execute-api.{self.options.region}.amazonaws.com"
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
        key = route_key(request)
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

    def build_response(self, result: Any) -> HttpResponse:
        if not isinstance(result, dict) or "statusCode" not in result:
            # Valid JSON without statusCode: API Gateway infers a 200 JSON response.
            body = result if isinstance(result, str) else json.dumps(result)
            return HttpResponse(200, [("content-type", "application/json")], body.encode())
        status = result["statusCode"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise MalformedResponseError(f"statusCode must be an integer HTTP status, not {status!r}")
        raw_headers = result.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise MalformedResponseError("headers must be an object of name → value")
        headers = [(str(k).lower(), _header_value(v)) for k, v in raw_headers.items()]
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponseError("cookies must be a list of strings")
        headers += [("set-cookie", str(cookie)) for cookie in cookies]
        if not any(k == "content-type" for k, _ in headers):
            headers.append(("content-type", "application/json"))
        try:
            body = decode_body(result.get("body"), bool(result.get("isBase64Encoded")))
        except (TypeError, ValueError) as exc:
            raise MalformedResponseError(f"body: {exc}") from exc
        return HttpResponse(status, headers, body)

    def function_error(self) -> HttpResponse:
        return json_response(500, {"message": "Internal Server Error"})


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
