"""The Lambda Invoke API on the gateway (aws-contracts.md §6), for boto3 and the AWS CLI.

``POST /2015-03-31/functions/{FunctionName}/invocations``: the name may be a handler's name,
a partial or full ARN, with an optional ``:qualifier`` or ``?Qualifier=``. Smyth has one
version of each function, so any qualifier (an alias or a version) runs ``$LATEST``.

Service errors carry ``x-amzn-ErrorType`` and a ``{"Type", "message"}`` body, which is what
the AWS SDKs' rest-json parsers read to raise ``ResourceNotFoundException`` and friends.
Function errors are not service errors: they answer 200 with ``X-Amz-Function-Error``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smyth.events.base import MB, SYNC_PAYLOAD_LIMIT
from smyth.events.utils import lambda_request_id
from smyth.exceptions import QueueFullError, ReplicaError
from smyth.gateway.handler import HandlerRuntime
from smyth.types import Invocation, InvocationResult

if TYPE_CHECKING:
    from smyth.gateway.app import Gateway

logger = logging.getLogger("smyth.gateway")

PATH = "/2015-03-31/functions/{name}/invocations"
ASYNC_PAYLOAD_LIMIT = 1 * MB  # "For asynchronous invocations, the maximum payload size is 1 MB"
CLIENT_CONTEXT_LIMIT = 3583
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")
VERSION = "$LATEST"
RIE_NAME = "function"  # RIE serves /2015-03-31/functions/function/invocations only
# name | 123456789012:function:name | arn:aws:lambda:region:123456789012:function:name,
# each with an optional :qualifier.
FUNCTION_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?"
    r"(?P<name>[^:/]+)(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]+))?\Z")

QUALIFIER = re.compile(r"[a-zA-Z0-9$_-]{0,128}")

_background: set[asyncio.Task[None]] = set()


class ServiceError(Exception):
    """A Lambda service error: a non-2xx answer the SDKs raise as ``error_type``."""

    def __init__(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.extra = extra

    def response(self) -> Response:
        body = {"Type": "Service" if self.status >= 500 else "User", "message": str(self),
                **self.extra}
        headers = {"x-amzn-ErrorType": self.error_type, "x-amzn-RequestId": str(uuid.uuid4())}
        if self.error_type == "TooManyRequestsException":
            headers["Retry-After"] = "1"
        return Response(json.dumps(body), self.status, headers=headers,
                        media_type="application/json")


def routes(gateway: Gateway) -> list[BaseRoute]:
    async def invoke(request: Request) -> Response:
        try:
            return await handle(gateway, request)
        except ServiceError as exc:
            logger.warning("Invoke %s: %s: %s", request.path_params["name"], exc.error_type, exc)
            return exc.response()

    return [Route(PATH, invoke, methods=["POST"], name="lambda-invoke")]


def resolve(gateway: Gateway, name: str, qualifier: str | None) -> tuple[HandlerRuntime, str]:
    """The handler a FunctionName names, and the qualifier it was invoked with."""
    config = gateway.config
    match = FUNCTION_NAME.match(name)
    handlers = list(gateway.handlers.values())
    found = match and next((h for h in handlers if h.config.function_name == match["name"]), None)
    if not found and match and match["name"] == RIE_NAME and len(handlers) == 1:
        found = handlers[0]  # the Runtime Interface Emulator's one function, for RIE users
    derived = match["qualifier"] if match else None
    if qualifier is not None and not QUALIFIER.fullmatch(qualifier):
        raise ServiceError(400, "ValidationException", "1 validation error detected: Value "
                           f"{qualifier!r} at 'qualifier' failed to satisfy constraint: Member "
                           "must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
    if derived and qualifier and derived != qualifier:
        raise ServiceError(400, "InvalidParameterValueException", "The derived qualifier from "
                           "the function name does not match the specified qualifier.")
    if not found:
        base = match["name"] if match else name
        arn = f"arn:aws:lambda:{config.region}:{config.account_id}:function:{base}"
        suffix = f":{derived or qualifier}" if derived or qualifier else ""
        known = ", ".join(h.config.function_name for h in gateway.handlers.values())
        raise ServiceError(404, "ResourceNotFoundException",
                           f"Function not found: {arn}{suffix} (Smyth serves: {known})")
    return found, derived or qualifier or ""


def header_choice(request: Request, header: str, default: str, allowed: tuple[str, ...]) -> str:
    value = request.headers.get(header, default)
    if value not in allowed:
        raise ServiceError(400, "InvalidParameterValueException",
                           f"{header} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def client_context(request: Request) -> dict[str, Any] | None:
    raw = request.headers.get("x-amz-client-context")
    if not raw:
        return None
    invalid = ServiceError(400, "InvalidRequestContentException",
                           "Client context must be a valid Base64-encoded JSON object "
                           f"of at most {CLIENT_CONTEXT_LIMIT} bytes")
    if len(raw) > CLIENT_CONTEXT_LIMIT:
        raise invalid
    try:
        data = json.loads(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error):
        raise invalid from None
    if not isinstance(data, dict):
        raise invalid
    return data


async def read_payload(request: Request, limit: int, operation: str) -> bytes:
    too_large = ServiceError(413, "RequestTooLargeException",
                             f"Request must be smaller than {limit} bytes for the {operation} "
                             "operation")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise too_large
    try:
        body = await request.body()
    except ClientDisconnect:
        raise ServiceError(400, "InvalidRequestContentException", "The client disconnected "
                           "before sending the whole request body") from None
    if len(body) > limit:
        raise too_large
    if not body.strip():
        return b""  # no payload: the handler gets {}, as from `aws lambda invoke` without one
    try:
        json.loads(body, parse_constant=not_json)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ServiceError(400, "InvalidRequestContentException", "Could not parse request "
                           f"body into json: {reason}") from None
    return body


def not_json(constant: str) -> Any:
    """NaN and Infinity: Python's json reads them, JSON (and Lambda) does not."""
    raise ValueError(f"{constant} is not a JSON value")


async def handle(gateway: Gateway, request: Request) -> Response:
    handler, qualifier = resolve(gateway, request.path_params["name"],
                                 request.query_params.get("Qualifier"))
    kind = header_choice(request, "x-amz-invocation-type", "RequestResponse", INVOCATION_TYPES)
    tail = header_choice(request, "x-amz-log-type", "None", LOG_TYPES) == "Tail"
    is_async = kind == "Event"
    payload = await read_payload(request, ASYNC_PAYLOAD_LIMIT if is_async else SYNC_PAYLOAD_LIMIT,
                                 "InvokeAsync" if is_async else "InvokeFunction")
    context_data = client_context(request)
    request_id = lambda_request_id()
    if kind == "DryRun":  # the checks above are all a dry run does
        return Response(status_code=204, headers={"x-amzn-RequestId": request_id})
    request.scope.update({"smyth.body": payload, "smyth.handler": handler,
                          "smyth.request_id": request_id})
    extra = await handler.context_generator(request, handler.config, None)
    invocation = Invocation(
        request_id=request_id, body=payload, timeout=handler.config.timeout,
        # As on AWS, the context's invoked_function_arn carries the qualifier used.
        function_arn=f"{handler.function_arn}:{qualifier}" if qualifier else handler.function_arn,
        client_context=context_data, context=extra or {},
        log_tail=tail and not is_async, trace_id=request.headers.get("x-amzn-trace-id"))
    if is_async:
        start_in_background(handler, invocation)
        return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
    try:
        result = await handler.pool.invoke(invocation)
    except QueueFullError as exc:
        raise ServiceError(429, "TooManyRequestsException", f"Rate Exceeded. ({exc})",
                           Reason="ReservedFunctionConcurrentInvocationLimitExceeded") from exc
    except ReplicaError as exc:
        raise ServiceError(500, "ServiceException", str(exc)) from exc
    return invocation_response(handler, result, tail)


def invocation_response(handler: HandlerRuntime, result: InvocationResult, tail: bool) -> Response:
    headers = {"X-Amz-Executed-Version": VERSION, "x-amzn-RequestId": result.request_id}
    error = result.error
    if error is None and len(result.payload) > SYNC_PAYLOAD_LIMIT:
        error = {"errorMessage": f"Response payload size ({len(result.payload)} bytes) exceeded "
                                 f"maximum allowed payload size ({SYNC_PAYLOAD_LIMIT} bytes).",
                 "errorType": "Function.ResponseSizeTooLarge"}
    if error is not None:
        logger.error("%s: RequestId %s failed: %s: %s", handler.name, result.request_id,
                     error.get("errorType"), error.get("errorMessage"))
        headers["X-Amz-Function-Error"] = "Unhandled"
    if tail:
        log = result.log if result.log is not None else fallback_log(result, error)
        headers["X-Amz-Log-Result"] = base64.b64encode(log.encode()[-4096:]).decode()
    # The handler's result goes out byte for byte as its runtime serialised it.
    body = json.dumps(error).encode() if error is not None else result.payload
    return Response(body, 200, headers=headers, media_type="application/json")


def fallback_log(result: InvocationResult, error: dict[str, Any] | None) -> str:
    """A log for an invocation whose process could not report one (killed on a timeout,
    crashed): the lines CloudWatch shows around such an end."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
    message = (error or {}).get("errorMessage", "")
    return (f"START RequestId: {result.request_id} Version: {VERSION}\n"
            f"{stamp} {result.request_id} {message}\n"
            f"END RequestId: {result.request_id}\n")


def start_in_background(handler: HandlerRuntime, invocation: Invocation) -> None:
    task = asyncio.ensure_future(run_event(handler, invocation))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def run_event(handler: HandlerRuntime, invocation: Invocation) -> None:
    """An asynchronous invocation. Lambda queues events and retries throttled ones, so a
    full pool delays the event instead of dropping it. Failed events are logged, not retried
    (Lambda would retry twice)."""
    delay = 0.05
    while True:
        try:
            result = await handler.pool.invoke(invocation)
            break
        except QueueFullError:
            await asyncio.sleep(delay)  # backoff while every replica and the queue are busy
            delay = min(delay * 2, 1.0)
        except ReplicaError as exc:
            logger.error("%s: event RequestId %s could not run: %s", handler.name,
                         invocation.request_id, exc)
            return
    if result.error is not None:
        logger.error("%s: event RequestId %s failed: %s: %s", handler.name, result.request_id,
                     result.error.get("errorType"), result.error.get("errorMessage"))
