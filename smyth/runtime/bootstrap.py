"""The handler process: imports one Lambda handler and serves invocations over a socket.

Started by a supervisor as ``python -m smyth.runtime.bootstrap FD OPTIONS_JSON``.
It imports only the standard library (plus debugpy when asked to listen for a debugger),
so a handler sees its own dependencies and nothing of Smyth's gateway.
"""

from __future__ import annotations

import signal

if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the supervisor decides when we stop, so an
    # in-flight invocation finishes instead of dying with a KeyboardInterrupt. Ignored before
    # anything else: the imports below take tens of milliseconds, Ctrl-C may come meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

import json
import logging
import os
import random
import resource
import select
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from smyth.context import LambdaContext
from smyth.runtime import debugging, memory, protocol
from smyth.runtime.output import PrefixedStream, last_bytes, make_prefix, report_line

BOOTED_AT = time.time()  # the interpreter has started and imported us

PR_SET_PDEATHSIG = 1
# How long a debugger waits for the supervisor to log that it stopped (see wait_for_ack).
ACK_TIMEOUT = 2.0


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to kill us when the supervisor dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the socket's EOF still ends us when idle
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def prefer_oom_kill() -> None:
    """When memory runs out, the kernel should kill this process, not its supervisor:
    Lambda's runtime outlives an out-of-memory handler, and so must a worker container."""
    try:
        with open("/proc/self/oom_score_adj", "w") as file:
            file.write("1000")
    except OSError:  # not Linux, or a locked-down /proc: the supervisor may be chosen
        pass


def error_object(exc: BaseException, request_id: str | None, error_type: str | None = None) -> dict[str, Any]:
    # The stack trace starts in the handler, as Lambda's runtime shows it: our own frames
    # (this file calling the handler) are not the user's business.
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id or "",
        "stackTrace": traceback.format_list(frames),
    }


def import_handler(handler_path: str) -> Callable[[Any, Any], Any]:
    """Import like the AWS Python runtime does, with its error types and messages."""
    module_name, _, function_name = handler_path.rpartition(".")
    try:
        module = __import__(module_name, fromlist=["_"]) if module_name else None
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", exc
        ) from exc
    except MemoryError as exc:
        raise InitError(
            "Runtime.OutOfMemory", f"Out of memory importing module '{module_name}'", exc
        ) from exc
    except ImportError as exc:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc
        ) from exc
    except Exception as exc:
        # Any other exception at import keeps its own class and message, as Lambda's
        # runtime reports it (build_fault_result in awslambdaric).
        raise InitError(type(exc).__name__, str(exc), exc,
                        trace=error_object(exc, None)["stackTrace"]) from exc
    handler = getattr(module, function_name, None)
    if module is None or handler is None:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
            None,
        )
    return handler  # type: ignore[no-any-return]


class InitError(Exception):
    def __init__(self, error_type: str, message: str, cause: BaseException | None,
                 trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.cause = cause
        self.trace = trace

    def to_error(self) -> dict[str, Any]:
        trace = self.trace if self.trace is not None else \
            traceback.format_exception(self.cause) if self.cause else []
        return {"errorMessage": str(self), "errorType": self.error_type, "requestId": "",
                "stackTrace": trace}


def project_modules(root: str) -> list[str]:
    """Files of the project (under ``root``) that this process has imported."""
    prefix = root.rstrip(os.sep) + os.sep
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(prefix) and os.sep + "site-packages" + os.sep not in path:
            files.add(path)
    return sorted(files)


class HandlerProcess:
    def __init__(self, sock: socket.socket, options: dict[str, Any]) -> None:
        self.sock = sock
        # Buffered: a frame's prefix, header and body usually arrive in one recv, not three.
        self.reader = sock.makefile("rb")
        self.options = options
        self.name: str = options["name"]
        self.memory = str(options.get("memory", 128))
        self.memory_limit: memory.MemoryLimit | None = None
        self.root: str = options.get("project_root") or os.getcwd()
        self.handler: Callable[[Any, Any], Any] | None = None
        self.init_ms = 0.0
        self.cold = True
        self.module_count = 0
        self.request_id: str | None = None
        self.stdout = PrefixedStream(sys.stdout, make_prefix(options.get("label", ""), options.get("color"), sys.stdout))
        self.stderr = PrefixedStream(sys.stderr, make_prefix(options.get("label", ""), options.get("color"), sys.stderr))

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.sock.sendall(protocol.encode(header, body))

    def wait_for_ack(self, timeout: float = ACK_TIMEOUT) -> None:
        """Wait (bounded) until the supervisor has logged a ``debug`` frame: a debugger's
        prompt must not be drawn while that line is being written to the same terminal."""
        # Nothing else is in flight to us during an invocation, so the buffered reader holds
        # nothing that select() cannot see.
        if not select.select([self.sock], [], [], timeout)[0]:
            return
        try:
            header, _ = protocol.read_frame(self.reader)
        except (EOFError, OSError):
            header = {"type": "stop"}  # the supervisor is gone: stop as if it had asked
        if header["type"] == "stop":  # asked to stop while a debugger was about to start
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    # -- start-up ---------------------------------------------------------------
    def setup_output(self) -> None:
        sys.stdout, sys.stderr = self.stdout, self.stderr
        process = self

        class RequestIdFilter(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                record.aws_request_id = process.request_id or ""
                return True

        # The Lambda Python runtime's log line: level, UTC time, request id, message.
        handler = logging.StreamHandler(sys.stdout)
        handler.addFilter(RequestIdFilter())
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(self.options.get("log_level", "INFO").upper())

    def init(self) -> bool:
        started = time.perf_counter()
        if self.root not in sys.path:
            sys.path.insert(0, self.root)
        try:
            try:
                debugging.install(self, self.options)
            except debugging.DebuggerError as exc:
                raise InitError("Runtime.DebuggerError", str(exc), None) from exc
            if self.options.get("limit_memory"):
                # Measured now, the runtime's own mappings (a debugger's too) are not the
                # handler's budget; the handler's imports are, as on Lambda.
                self.memory_limit = memory.install(int(self.memory))
            self.handler = import_handler(self.options["handler_path"])
        except InitError as exc:
            error = exc.to_error()
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
            if exc.cause is not None:
                traceback.print_exception(exc.cause, file=sys.stderr)
            self.stderr.flush_partial()
            debugging.end_session(self)
            self.send({"type": "init_error", "error": error, "modules": project_modules(self.root)})
            return False
        debugging.end_session(self)  # a breakpoint() at import time holds the debugger until here
        # Lambda's Init Duration covers starting the runtime as well as importing the
        # handler: count from the supervisor's spawn to the interpreter's start too.
        spawned_at = self.options.get("spawned_at")
        startup_ms = max(BOOTED_AT - spawned_at, 0.0) * 1000 if spawned_at else 0.0
        self.init_ms = startup_ms + (time.perf_counter() - started) * 1000
        self.module_count = len(sys.modules)
        self.send({"type": "ready", "pid": os.getpid(), "init_ms": self.init_ms,
                   "modules": project_modules(self.root)})
        return True

    # -- invocations ------------------------------------------------------------
    def invoke(self, header: dict[str, Any], body: bytes) -> None:
        request_id = self.request_id = header["request_id"]
        tail = bool(header.get("log_tail"))
        if tail:  # one log for both streams, as CloudWatch has one per invocation
            log: list[str] = []
            self.stdout.start_capture(log)
            self.stderr.start_capture(log)
        init_ms = None
        if self.cold:
            init_ms = self.init_ms
            if self.options.get("fake_coldstart"):
                pause = random.uniform(0.5, 1.0)
                time.sleep(pause)
                init_ms += pause * 1000
        sys.stdout.write(f"START RequestId: {request_id} Version: $LATEST\n")  # one write
        os.environ["_X_AMZN_TRACE_ID"] = header.get("trace_id") or ""
        started = time.perf_counter()
        context = LambdaContext(
            aws_request_id=request_id,
            deadline_ms=header["deadline_ms"],
            invoked_function_arn=header["function_arn"],
            client_context=header.get("client_context"),
            identity=header.get("identity"),
            tenant_id=header.get("tenant_id"),
            extra=header.get("context"),
        )
        error: dict[str, Any] | None = None
        payload = b""
        try:
            event = json.loads(body) if body else {}
            assert self.handler is not None
            debugging.begin_invocation(self)
            result = self.handler(event, context)
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                error = {"errorMessage": f"Unable to marshal response: {exc}",
                         "errorType": "Runtime.MarshalError", "requestId": request_id,
                         "stackTrace": []}
        except Exception as exc:  # noqa: BLE001  (any handler error is the function's error)
            if isinstance(exc, MemoryError) and self.memory_limit is not None:
                self.out_of_memory(exc, request_id)  # without the limit, an error like any other
            error = error_object(exc, request_id)
            trace = "".join(error["stackTrace"])
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n"
                  f"Traceback (most recent call last):\n{trace}", end="", file=sys.stderr)
        self.stderr.flush_partial()
        debugging.end_session(self)
        duration = (time.perf_counter() - started) * 1000
        max_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        # END and REPORT leave in one write: one system call, not two (or four, by print).
        sys.stdout.write(f"END RequestId: {request_id}\n"
                         f"{report_line(request_id, duration, self.memory, max_memory, init_ms)}\n")
        self.cold = False
        result_header: dict[str, Any] = {
            "type": "result", "request_id": request_id, "error": error,
            "duration_ms": duration, "max_memory_mb": max_memory, "init_ms": init_ms,
        }
        if tail:
            self.stderr.stop_capture()
            result_header["log"] = last_bytes(self.stdout.stop_capture())
        if len(sys.modules) != self.module_count:  # lazy imports widen what reload watches
            self.module_count = len(sys.modules)
            result_header["modules"] = project_modules(self.root)
        self.request_id = None
        self.send(result_header, payload if error is None else b"")

    def out_of_memory(self, exc: MemoryError, request_id: str) -> NoReturn:
        """The handler went past ``memory``: as Lambda would have killed it, tell the
        supervisor (which answers ``Runtime.OutOfMemory`` and starts a fresh process) and end."""
        traceback.clear_frames(exc.__traceback__)  # the handler's locals: memory to report with
        assert self.memory_limit is not None
        try:
            trace = "".join(error_object(exc, request_id)["stackTrace"])
            print(f"[ERROR] Runtime.OutOfMemory: MemoryError: the handler went past its memory "
                  f"size ({self.memory_limit.describe()})\n"
                  f"Traceback (most recent call last):\n{trace}", end="", file=sys.stderr)
            self.stderr.flush_partial()
            sys.stdout.flush()
            sys.stderr.flush()
        except MemoryError:  # nothing left even to format the trace
            os.write(2, b"[ERROR] Runtime.OutOfMemory: MemoryError: the handler went past "
                        b"its memory size\n")
        try:
            self.send({"type": "oom", "request_id": request_id})
        finally:
            os._exit(1)

    def serve(self) -> None:
        while True:
            try:
                header, body = protocol.read_frame(self.reader)
            except (EOFError, OSError):
                return  # the supervisor is gone or closed us: exit quietly
            if header["type"] == "invoke":
                self.invoke(header, body)
            elif header["type"] == "stop":
                return


def main() -> None:
    fd, options = int(sys.argv[1]), json.loads(sys.argv[2])
    die_with_parent(options["parent_pid"])
    prefer_oom_kill()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (as at the top, when not run as __main__)
    sock = socket.socket(fileno=fd)
    process = HandlerProcess(sock, options)
    process.setup_output()
    if process.init():
        process.serve()
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
