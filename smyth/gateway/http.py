"""The endpoint behind every handler route: request → event → replica → response.

It is a bare ASGI app rather than a Starlette endpoint: it sends its response itself, so an
integration timeout can answer the client while the invocation goes on in the same task, as
on AWS, without a task per request to race against a timer.
"""

from __future__ import annotations

import asyncio
import json
import logging

from smyth.asgi import Receive, Scope, Send, read_body
from smyth.events import HttpResponse
from smyth.events.base import HEADER_COUNT_LIMIT, SYNC_PAYLOAD_LIMIT, MalformedResponseError
from smyth.events.utils import lambda_request_id
from smyth.exceptions import QueueFullError
from smyth.gateway.access import AccessLog
from smyth.gateway.handler import HandlerRuntime
from smyth.gateway.responses import json_error, raw_response
from smyth.types import Invocation, InvocationResult

logger = logging.getLogger("smyth.gateway")

async def send_response(send: Send, response: HttpResponse) -> None:
    """Send a format's response, already checked (``raw_response``), in two ASGI messages."""
    status, headers, body = raw_response(response)
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Endpoint:
    """The ASGI app of one handler's route."""

    def __init__(self, handler: HandlerRuntime, access: AccessLog) -> None:
        self.handler = handler
        self.fmt = handler.event_format
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("path_params", {})
        try:
            answer = await self.handle(scope, receive, send)
        except asyncio.CancelledError:
            # Shutting down: uvicorn cancels what still runs when the grace period ends. The
            # client gets the front door's answer to a function that did not finish, and the
            # terminal one line instead of a traceback.
            logger.warning("%s: RequestId %s: stopped by the shutdown before the function "
                           "returned", self.handler.name, scope.get("smyth.request_id"))
            if scope.get("smyth.answered"):  # an integration timeout answered already
                return
            answer = self.fmt.function_error()
        if answer is None:
            return
        try:
            await send_response(send, answer)
        except MalformedResponseError as exc:  # checked before anything was sent
            logger.error("%s: RequestId %s: Malformed Lambda proxy response: %s",
                         self.handler.name, scope.get("smyth.request_id"), exc)
            answer = self.fmt.function_error()
            await send_response(send, answer)
        self.access(scope, answer.status)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> HttpResponse | None:
        """The response to send; None when there is nobody to send it to, or it has been
        sent already (an integration timeout)."""
        handler, fmt = self.handler, self.fmt
        headers = scope["headers"]
        if len(headers) > HEADER_COUNT_LIMIT:
            return fmt.headers_too_large()
        size = len(scope.get("raw_path") or b"") + len(scope["query_string"])
        length = b""
        for name, value in headers:  # one pass: the header size and the declared body size
            size += len(name) + len(value)
            if name == b"content-length" and not length:  # the first, as Starlette reads it
                length = value
        if size > fmt.max_request_headers:
            return fmt.headers_too_large()
        if length.isdigit() and int(length) > fmt.max_request_body:
            return fmt.request_too_large()
        body = await read_body(receive)
        if body is None:  # gone before its body arrived: nothing to invoke, no one to tell
            return None
        if len(body) > fmt.max_request_body:
            return fmt.request_too_large()
        request_id = lambda_request_id()
        scope["smyth.body"] = body
        scope["smyth.handler"] = handler
        scope["smyth.request_id"] = request_id
        request = handler.request_type(scope, receive)
        event = await handler.event_generator(request, handler)
        context = await handler.context_generator(request, handler.config, None)
        payload = json.dumps(event).encode()
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            logger.error("%s: event of %d bytes exceeds Lambda's 6 MB synchronous limit "
                         "(RequestTooLargeException)", handler.name, len(payload))
            return fmt.invoke_rejected()
        invocation = Invocation(request_id=request_id, body=payload,
                                timeout=handler.config.timeout, function_arn=handler.function_arn,
                                context=context or {})
        try:
            result = await self.invoke_within(invocation, send, scope)
        except QueueFullError as exc:
            logger.warning("%s", exc)
            return json_error(429, {"message": "Too Many Requests"}, "TooManyRequestsException")
        if result is None:
            return None
        if result.error is not None:
            error = result.error
            logger.error("%s: RequestId %s failed: %s: %s", handler.name, request_id,
                         error.get("errorType"), error.get("errorMessage"))
            response = fmt.function_error()
            # An init failure is named in the response, so that a syntax error shows where
            # you look; other function errors answer exactly as API Gateway does.
            if result.init_failed and ("content-type", "application/json") in response.headers:
                data = json.loads(response.body)
                data.update(errorType=error["errorType"], errorMessage=error["errorMessage"])
                return json_error(response.status, data)
            return response
        try:
            return fmt.response_for(result.payload)
        except MalformedResponseError as exc:
            logger.error("%s: RequestId %s: Malformed Lambda proxy response: %s",
                         handler.name, request_id, exc)
            return fmt.function_error()

    async def invoke_within(self, invocation: Invocation, send: Send,
                            scope: Scope) -> InvocationResult | None:
        """The invocation's result; or, when the front door's integration timeout passes
        first, None once the timeout's answer is sent. As on AWS the invocation goes on
        (this task waits for it); a debugger session lifts the limit."""
        handler, limit = self.handler, self.fmt.integration_timeout
        timeout = handler.config.timeout
        if limit is None or (timeout is not None and timeout <= limit):
            return await handler.pool.invoke(invocation)
        answered: list[asyncio.Task[None]] = []

        def expire() -> None:
            if any(replica.status().get("debugging") for replica in handler.replicas):
                return
            logger.error("%s: RequestId %s: integration timed out after %.0f s; the invocation "
                         "goes on", handler.name, invocation.request_id, limit)
            scope["smyth.answered"] = True
            answered.append(asyncio.ensure_future(self.answer_timeout(send, scope)))

        timer = asyncio.get_running_loop().call_later(limit, expire)
        try:
            result = await handler.pool.invoke(invocation)
        finally:
            timer.cancel()
            if answered:
                await answered[0]
        return None if answered else result

    async def answer_timeout(self, send: Send, scope: Scope) -> None:
        answer = self.fmt.integration_timed_out()
        await send_response(send, answer)
        self.access(scope, answer.status)
