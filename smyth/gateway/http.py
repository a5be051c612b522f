"""The endpoint behind every handler route: request → event → replica → response."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from smyth.events.base import SYNC_PAYLOAD_LIMIT, MalformedResponseError
from smyth.events.utils import lambda_request_id
from smyth.exceptions import QueueFullError
from smyth.gateway.handler import HandlerRuntime
from smyth.gateway.responses import json_error, to_starlette
from smyth.types import Invocation, InvocationResult

logger = logging.getLogger("smyth.gateway")


def endpoint(handler: HandlerRuntime) -> Any:
    fmt = handler.event_format

    async def handle(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > fmt.max_request_body:
            return to_starlette(fmt.request_too_large())
        try:
            body = await request.body()
        except ClientDisconnect:  # gone before its body arrived: nothing to invoke, no one to tell
            return Response(status_code=400)
        if len(body) > fmt.max_request_body:
            return to_starlette(fmt.request_too_large())
        request_id = lambda_request_id()
        request.scope["smyth.body"] = body
        request.scope["smyth.handler"] = handler
        request.scope["smyth.request_id"] = request_id
        event = await handler.event_generator(request, handler)
        context = await handler.context_generator(request, handler.config, None)
        payload = json.dumps(event).encode()
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            logger.error("%s: event of %d bytes exceeds Lambda's 6 MB synchronous limit "
                         "(RequestTooLargeException)", handler.name, len(payload))
            return to_starlette(fmt.invoke_rejected())
        invocation = Invocation(request_id=request_id, body=payload,
                                timeout=handler.config.timeout, function_arn=handler.function_arn,
                                context=context or {})
        try:
            result = await invoke_within(handler, invocation, fmt.integration_timeout)
        except QueueFullError as exc:
            logger.warning("%s", exc)
            return json_error(429, {"message": "Too Many Requests"}, "TooManyRequestsException")
        if result is None:
            logger.error("%s: RequestId %s: integration timed out after %.0f s; the invocation "
                         "goes on", handler.name, request_id, fmt.integration_timeout)
            return to_starlette(fmt.integration_timed_out())
        if result.error is not None:
            error = result.error
            logger.error("%s: RequestId %s failed: %s: %s", handler.name, request_id,
                         error.get("errorType"), error.get("errorMessage"))
            response = to_starlette(fmt.function_error())
            # An init failure is named in the response, so that a syntax error shows where
            # you look; other function errors answer exactly as API Gateway does.
            if result.init_failed and response.headers.get("content-type") == "application/json":
                data = json.loads(bytes(response.body))
                data.update(errorType=error["errorType"], errorMessage=error["errorMessage"])
                return json_error(response.status_code, data)
            return response
        try:
            return to_starlette(fmt.response_for(result.payload))
        except MalformedResponseError as exc:
            logger.error("%s: RequestId %s: Malformed Lambda proxy response: %s",
                         handler.name, request_id, exc)
            return to_starlette(fmt.function_error())

    return handle


_detached: set[asyncio.Task[InvocationResult]] = set()


def _debugging(handler: HandlerRuntime) -> bool:
    return any(replica.status().get("debugging") for replica in handler.replicas)


async def invoke_within(handler: HandlerRuntime, invocation: Invocation,
                        limit: float | None) -> InvocationResult | None:
    """The invocation's result, or None when the front door's integration timeout passes
    first. As on AWS the invocation itself goes on; a debugger session lifts the limit."""
    timeout = handler.config.timeout
    if limit is None or (timeout is not None and timeout <= limit):
        return await handler.pool.invoke(invocation)
    task = asyncio.ensure_future(handler.pool.invoke(invocation))
    done, _ = await asyncio.wait({task}, timeout=limit)
    if done or _debugging(handler):
        return await task
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no warning
    return None
