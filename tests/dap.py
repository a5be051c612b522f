"""A small Debug Adapter Protocol client, speaking debugpy's wire protocol over TCP.

Messages are JSON bodies behind a ``Content-Length`` header, as the DAP specification
defines them. A reader thread files every incoming message; the test thread waits on them
with bounded timeouts, so a debugger that never answers fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
TIMEOUT = 30.0


class DAPError(AssertionError):
    pass


def connect(host: str, port: int, timeout: float = TIMEOUT) -> socket.socket:
    """Connect, retrying while nothing listens yet (a handler process may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=5)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise DAPError(f"nothing accepted a connection on {host}:{port}: {exc}") from exc
            time.sleep(0.05)


class DAPClient:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = connect(host, port, timeout)
        self.sock.settimeout(None)
        self._seq = 0
        self._messages: list[Message] = []
        self._closed = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- wire ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise DAPError("a message without Content-Length")
                message = json.loads(stream.read(length))
                with self._cond:
                    self._messages.append(message)
                    self._cond.notify_all()
        except (OSError, ValueError):
            return
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    # -- requests, responses, events -------------------------------------------------
    def send_request(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self._seq += 1
        message: Message = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        self._send(message)
        return self._seq

    def wait_for(self, match: Callable[[Message], bool], what: str,
                 timeout: float = TIMEOUT) -> Message:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._messages:
                    if match(message):
                        return message
                if self._closed:
                    raise DAPError(f"connection closed while waiting for {what}; got "
                                   f"{[m.get('event') or m.get('command') for m in self._messages]}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DAPError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(remaining)

    def response(self, seq: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = self.wait_for(lambda m: m.get("type") == "response"
                                and m.get("request_seq") == seq, f"response to #{seq}", timeout)
        if not message.get("success"):
            raise DAPError(f"{message.get('command')} failed: {message.get('message')} "
                           f"{message.get('body')}")
        return message.get("body") or {}

    def request(self, command: str, arguments: dict[str, Any] | None = None,
                timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.response(self.send_request(command, arguments), timeout)

    def event(self, name: str, timeout: float = TIMEOUT,
              where: Callable[[dict[str, Any]], bool] = lambda body: True) -> dict[str, Any]:
        message = self.wait_for(lambda m: m.get("type") == "event" and m.get("event") == name
                                and where(m.get("body") or {}), f"event {name!r}", timeout)
        with self._cond:
            self._messages.remove(message)  # the next wait sees the next event of this name
        return message.get("body") or {}

    def wait_closed(self, timeout: float = TIMEOUT) -> None:
        """Wait until the other side has closed the connection (the debuggee exited)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DAPError(f"the connection is still open after {timeout} s")
                self._cond.wait(remaining)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(5)

    # -- the attach handshake and what a test reads at a stop ------------------------
    def attach(self, breakpoints: dict[str, list[int]],
               path_mappings: list[dict[str, str]] | None = None,
               configuration: dict[str, Any] | None = None) -> None:
        """initialize, attach, setBreakpoints per file, configurationDone (as VS Code does).

        ``configuration`` is the attach request's arguments, as a launch.json entry or a
        ``debugpyAttach`` event (a subprocess to attach to) gives them."""
        self.request("initialize", {
            "clientID": "smyth-tests", "adapterID": "debugpy", "pathFormat": "path",
            "linesStartAt1": True, "columnsStartAt1": True, "supportsVariableType": True,
            "supportsStartDebuggingRequest": False,
        })
        arguments: dict[str, Any] = {"justMyCode": True, **(configuration or {})}
        if path_mappings:
            arguments["pathMappings"] = path_mappings
        attach = self.send_request("attach", arguments)
        self.event("initialized")
        for path, lines in breakpoints.items():
            body = self.request("setBreakpoints", {
                "source": {"path": path}, "breakpoints": [{"line": line} for line in lines]})
            assert len(body["breakpoints"]) == len(lines), body
        self.request("configurationDone")
        self.response(attach)

    def stopped(self, timeout: float = TIMEOUT) -> tuple[int, dict[str, Any]]:
        """Wait for a stop; return its thread id and top stack frame."""
        body = self.event("stopped", timeout)
        thread_id = body["threadId"]
        frames = self.request("stackTrace", {"threadId": thread_id, "levels": 1})["stackFrames"]
        return thread_id, frames[0]

    def locals(self, frame_id: int) -> dict[str, str]:
        scopes = self.request("scopes", {"frameId": frame_id})["scopes"]
        local = next(s for s in scopes if s["name"].lower() == "locals")
        variables = self.request("variables",
                                 {"variablesReference": local["variablesReference"]})["variables"]
        return {v["name"]: v["value"] for v in variables}

    def resume(self, thread_id: int) -> None:
        self.request("continue", {"threadId": thread_id})

    def disconnect(self) -> None:
        try:
            self.request("disconnect", {"terminateDebuggee": False}, timeout=10)
        except DAPError:
            pass
        self.close()
