"""Application Load Balancer with a Lambda target group (aws-contracts.md §5).

The target group's multi-value headers switch (``alb_multi_value_headers``) picks one of
two shapes, never both: ``headers`` and ``queryStringParameters`` hold the last value of
each name, or ``multiValueHeaders`` and ``multiValueQueryStringParameters`` hold them all.
The result must answer in the same shape (the ELB guide: "You must use multiValueHeaders if
you have enabled multi-value headers and headers otherwise"); the other key is ignored.
An ALB passes the query string on without decoding it, and answers its own errors with
its HTML error pages.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from smyth.events.base import MB, EventFormat, HttpRequest, HttpResponse, MalformedResponseError
from smyth.events.utils import (
    body_bytes,
    encode_body,
    last_values,
    multi_headers,
    multi_value,
    raw_query_pairs,
    single_headers,
    status_code,
    trace_id,
)


def error_page(status: int, reason: str) -> HttpResponse:
    """The page an ALB (server ``awselb/2.0``) sends for its own errors."""
    title = f"{status} {reason}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n")
    return HttpResponse(status, [("content-type", "text/html"), ("server", "awselb/2.0")],
                        body.encode())


def target_group_arn(region: str, account_id: str, function_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9-]", "-", function_name)[:32].strip("-") or "lambda"
    suffix = hashlib.sha256(function_name.encode()).hexdigest()[:16]
    return f"arn:aws:elasticloadbalancing:{region}:{account_id}:targetgroup/{name}/{suffix}"


class AlbFormat(EventFormat):
    name = "alb"
    # "The maximum size of the request body that you can send to a Lambda function is 1 MB
    # ... The maximum size of the response JSON that the Lambda function can send is 1 MB."
    max_request_body = 1 * MB
    max_response_payload = 1 * MB

    def request_headers(self, request: HttpRequest, now: float) -> list[tuple[str, str]]:
        headers = list(request.headers)
        names = {k for k, _ in headers}
        added = {
            "x-amzn-trace-id": trace_id(now),
            "x-forwarded-for": request.source_ip,
            "x-forwarded-port": str(request.server_port),
            "x-forwarded-proto": request.scheme,
        }
        return headers + [(k, v) for k, v in added.items() if k not in names]

    def build_event(self, request: HttpRequest, request_id: str, now: float) -> dict[str, Any]:
        opts = self.options
        headers = self.request_headers(request, now)
        query = raw_query_pairs(request.query_string)
        body, is_base64 = encode_body(request.body, request.header("content-type"))
        event: dict[str, Any] = {
            "requestContext": {"elb": {"targetGroupArn": target_group_arn(
                opts.region, opts.account_id, opts.function_name)}},
            "httpMethod": request.method,
            "path": request.raw_path or request.path,
        }
        if opts.multi_value_headers:
            event["multiValueQueryStringParameters"] = multi_value(query)
            event["multiValueHeaders"] = multi_value(headers)
        else:
            event["queryStringParameters"] = last_values(query)
            event["headers"] = last_values(headers)
        event["body"] = body or ""
        event["isBase64Encoded"] = is_base64
        return event

    def build_response(self, result: Any) -> HttpResponse:
        if not isinstance(result, dict) or "statusCode" not in result:
            raise MalformedResponseError("an ALB needs an object with statusCode")
        status = status_code(result["statusCode"])
        # statusDescription ("200 OK") would be the reason phrase; the HTTP server picks
        # the standard phrase for the status instead.
        if self.options.multi_value_headers:
            headers = multi_headers(result.get("multiValueHeaders"))
        else:
            headers = single_headers(result.get("headers"))
        return HttpResponse(status, headers, body_bytes(result))

    def function_error(self) -> HttpResponse:
        return error_page(502, "Bad Gateway")

    def request_too_large(self) -> HttpResponse:
        return error_page(413, "Request Entity Too Large")

    def headers_too_large(self) -> HttpResponse:
        # ALB refuses a request line or header over 16 KB, or 64 KB of headers, with a 400.
        return error_page(400, "Bad Request")
