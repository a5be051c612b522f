"""The worker protocols: how an invocation and its result cross to a worker container.

Two ways in, one worker behind them:

- HTTP, the Runtime Interface Emulator's invoke protocol: the event in, the handler's payload
  (or the Lambda error object) out. What RIE has no header for travels in ``X-Smyth-*``
  headers, and the Invoke API's own headers (client context, log tail, function error) keep
  their AWS names, so a worker answers plain RIE clients (curl, an IDE's Lambda tooling).
- The invocation channel, which the gateway uses: one TCP connection per replica carrying
  the frames a supervisor exchanges with its handler process (``smyth.runtime.protocol``),
  the event and the payload as raw bytes beside a JSON header. It spares each invocation an
  HTTP request and response on both sides, most of what the hop cost.

The worker server reads and answers both; the remote replica speaks the channel.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any

from smyth.types import Invocation, InvocationResult

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
HEALTH_PATH = "/__/health"
RELOAD_PATH = "/__/reload"

# Request
REQUEST_ID = "x-smyth-request-id"
TIMEOUT = "x-smyth-timeout"  # seconds; absent means the worker's configured timeout
FUNCTION_ARN = "x-smyth-function-arn"
IDENTITY = "x-smyth-identity"  # base64 JSON
CUSTOM_CONTEXT = "x-smyth-context"  # base64 JSON from a custom context generator
CLIENT_CONTEXT = "x-amz-client-context"  # base64 JSON, as in the Invoke API
LOG_TYPE = "x-amz-log-type"  # "Tail" asks for the last 4 KB of the log
TRACE_ID = "x-amzn-trace-id"
# Response
FUNCTION_ERROR = "x-amz-function-error"
LOG_RESULT = "x-amz-log-result"
EXECUTED_VERSION = "x-amz-executed-version"
DURATION = "x-smyth-duration-ms"
INIT_DURATION = "x-smyth-init-duration-ms"
MAX_MEMORY = "x-smyth-max-memory-mb"
REPLICA = "x-smyth-replica"
STATE = "x-smyth-state"  # the worker's state after the invocation: cold, warm, ...


def _from_b64_json(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    decoded = json.loads(base64.b64decode(value))
    if not isinstance(decoded, dict):
        raise TypeError("expected a base64-encoded JSON object")
    return decoded


# -- worker side --------------------------------------------------------------

def read_invocation(headers: Mapping[str, str], body: bytes, *, default_timeout: float | None,
                    default_arn: str) -> Invocation:
    """The invocation a request describes; a bare RIE request gets the worker's defaults.

    Raises ValueError or TypeError on a header that does not parse."""
    timeout = headers.get(TIMEOUT)
    return Invocation(
        request_id=headers.get(REQUEST_ID) or str(uuid.uuid4()),
        body=body,
        timeout=float(timeout) if timeout else default_timeout,
        function_arn=headers.get(FUNCTION_ARN) or default_arn,
        client_context=_from_b64_json(headers.get(CLIENT_CONTEXT)),
        identity=_from_b64_json(headers.get(IDENTITY)),
        context=_from_b64_json(headers.get(CUSTOM_CONTEXT)) or {},
        log_tail=headers.get(LOG_TYPE, "").lower() == "tail",
        trace_id=headers.get(TRACE_ID),
    )


def result_headers(result: InvocationResult, state: str) -> dict[str, str]:
    headers = {
        REQUEST_ID: result.request_id, EXECUTED_VERSION: "$LATEST",
        DURATION: f"{result.duration_ms:.3f}", MAX_MEMORY: str(result.max_memory_mb),
        REPLICA: result.replica, STATE: state,
    }
    if result.error is not None:
        headers[FUNCTION_ERROR] = "Unhandled"
    if result.init_ms is not None:
        headers[INIT_DURATION] = f"{result.init_ms:.3f}"
    if result.log is not None:
        headers[LOG_RESULT] = base64.b64encode(result.log.encode()).decode("ascii")
    return headers


def result_body(result: InvocationResult) -> bytes:
    if result.error is not None:
        return json.dumps(result.error).encode()
    return result.payload


# -- the invocation channel ----------------------------------------------------------
# The worker listens for it beside its HTTP port (on the next one unless told otherwise)
# and names its port in its health answer.
CHANNEL_PORT_KEY = "channel_port"


def invocation_frame(invocation: Invocation) -> tuple[dict[str, Any], bytes]:
    header = {
        "type": "invoke", "request_id": invocation.request_id, "timeout": invocation.timeout,
        "function_arn": invocation.function_arn, "client_context": invocation.client_context,
        "identity": invocation.identity, "context": invocation.context,
        "log_tail": invocation.log_tail, "trace_id": invocation.trace_id,
    }
    return header, invocation.body


def read_invocation_frame(header: Mapping[str, Any], body: bytes) -> Invocation:
    """Raises KeyError, ValueError or TypeError on a frame that is not an invocation."""
    if header.get("type") != "invoke":
        raise ValueError(f"expected an invoke frame, not {header!r:.100}")
    timeout = header["timeout"]
    return Invocation(
        request_id=str(header["request_id"]), body=body,
        timeout=None if timeout is None else float(timeout),
        function_arn=str(header["function_arn"]),
        client_context=header.get("client_context"), identity=header.get("identity"),
        context=header.get("context") or {}, log_tail=bool(header.get("log_tail")),
        trace_id=header.get("trace_id"),
    )


def result_frame(result: InvocationResult, state: str) -> tuple[dict[str, Any], bytes]:
    header = {
        "type": "result", "request_id": result.request_id, "error": result.error,
        "duration_ms": result.duration_ms, "init_ms": result.init_ms,
        "max_memory_mb": result.max_memory_mb, "log": result.log, "replica": result.replica,
        "init_failed": result.init_failed, "state": state,
    }
    return header, result.payload


def refusal_frame(error_type: str, message: str) -> tuple[dict[str, Any], bytes]:
    """The answer to an invocation the worker would not run (busy, malformed)."""
    return {"type": "refused", "errorType": error_type, "errorMessage": message}, b""


def read_result_frame(header: Mapping[str, Any], body: bytes) -> InvocationResult:
    return InvocationResult(
        request_id=header["request_id"], payload=body, error=header.get("error"),
        duration_ms=header.get("duration_ms") or 0.0, init_ms=header.get("init_ms"),
        max_memory_mb=header.get("max_memory_mb") or 0, log=header.get("log"),
        replica=header.get("replica") or "", init_failed=bool(header.get("init_failed")),
    )
