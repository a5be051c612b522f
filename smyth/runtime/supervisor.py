"""The supervisor: one replica's handler process — spawn, invoke, deadline, kill, respawn, reload.

It runs inside the gateway (``smyth run``) or inside a worker container's server
(``smyth up``); either way it is the one place that owns a handler process's life.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from smyth.runtime import cgroup
from smyth.runtime.channel import Channel, open_channel
from smyth.runtime.launch import Launched, ProcessSpec, launch
from smyth.runtime.output import make_prefix, report_line
from smyth.runtime.output_relay import OutputRelay
from smyth.types import Invocation, InvocationResult, ReplicaState

logger = logging.getLogger("smyth.runtime")

STOP_GRACE = 2.0


@dataclass
class InitFailure:
    error: dict[str, Any]
    modules: set[str]


class HandlerProcess:
    """The gateway-side handle of one live child."""

    def __init__(self, popen: subprocess.Popen[bytes], channel: Channel) -> None:
        self.popen = popen
        self.channel = channel
        self.output = OutputRelay(popen.stdout, sys.stdout) if popen.stdout is not None else None
        self._exit: asyncio.Future[int] | None = None
        self.modules: set[str] = set()
        self.init_ms = 0.0
        # The cgroup's OOM-kill count when this process became ready: a SIGKILL with a higher
        # count later was the OOM killer's (one handler process per container in Docker mode).
        self.oom_kills: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    async def wait(self) -> int:
        """The exit status, once the process has exited (and been reaped) and what it wrote
        has been passed on."""
        if self.popen.poll() is None:
            if self._exit is None:
                self._exit = self._watch_exit()
            await asyncio.shield(self._exit)
        if self.output is not None:
            self.output.close()
        return self.popen.returncode

    def drain_output(self) -> None:
        """Pass on what the process has written so far: call before writing about it."""
        if self.output is not None:
            self.output.drain()

    def _watch_exit(self) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        if not hasattr(os, "pidfd_open"):  # not Linux: a thread blocks in waitpid for us
            return loop.run_in_executor(None, self.popen.wait)
        exited: asyncio.Future[int] = loop.create_future()
        pidfd = os.pidfd_open(self.popen.pid)  # readable once the process has exited

        def reap() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not exited.done():
                exited.set_result(self.popen.wait())

        loop.add_reader(pidfd, reap)
        return exited

    async def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.channel.send(header, body)

    async def receive(self, timeout: float | None = None) -> tuple[dict[str, Any], bytes]:
        return await self.channel.receive(timeout)

    def kill(self) -> None:
        if self.returncode is None:
            try:
                self.popen.kill()
            except ProcessLookupError:
                pass
        self.channel.close()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Ask the process to exit; kill it if it has not within ``grace`` seconds."""
        if self.returncode is None:
            try:
                await self.send({"type": "stop"})
            except (ConnectionError, RuntimeError):
                pass
            try:
                await asyncio.wait_for(self.wait(), grace)
            except asyncio.TimeoutError:
                self.kill()
                await self.wait()
        self.channel.close()

    def exit_description(self) -> str:
        code = self.returncode
        if code is None:
            return "unknown"
        if code < 0:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
            name = {"segv": "segmentation fault", "kill": "killed", "abrt": "aborted"}.get(name, name)
            return f"signal: {name}"
        return f"exit status {code}"


# Sent once the log line about a debugger is written: the handler process waits for it, so
# that line reaches the terminal before the debugger's prompt, not in the middle of it.
DEBUG_ACK = {"type": "debug_ack"}


async def spawn(spec: ProcessSpec, launched: Launched | None = None) -> HandlerProcess | InitFailure:
    """Start a handler process (or adopt one ``launch`` started) and wait until it has
    imported the handler."""
    launched = launched or launch(spec)
    child = HandlerProcess(launched.popen, await open_channel(launched.sock))
    try:
        header, _ = await child.receive(spec.init_timeout)
        while header["type"] == "debug":  # a breakpoint() at import time: no init deadline
            child.drain_output()
            logger.warning("%s: %s during init; its init timeout is suspended",
                           spec.label or spec.handler_name, header.get("reason", "a debugger"))
            await child.send(DEBUG_ACK)
            header, _ = await child.receive()
    except asyncio.TimeoutError:
        child.kill()
        await child.wait()
        return InitFailure({"errorType": "Runtime.InitTimeout", "requestId": "", "stackTrace": [],
                            "errorMessage": f"Init did not finish within {spec.init_timeout:.0f} s "
                                            f"importing {spec.handler_path!r}"}, set())
    except ConnectionError:
        await child.wait()
        return InitFailure({"errorType": "Runtime.ExitError", "requestId": "", "stackTrace": [],
                            "errorMessage": "Runtime exited during init with "
                                            f"{child.exit_description()}"}, set())
    except asyncio.CancelledError:  # stopped while it starts: it must not outlive us
        child.kill()
        await child.wait()
        raise
    if header["type"] == "init_error":
        await child.stop()
        return InitFailure(header["error"], set(header.get("modules", ())))
    child.modules = set(header.get("modules", ()))
    child.init_ms = header.get("init_ms", 0.0)
    child.oom_kills = cgroup.oom_kills()
    return child


def failure_result(request_id: str, error_type: str, message: str) -> InvocationResult:
    return InvocationResult(request_id, b"", {
        "errorMessage": f"RequestId: {request_id} Error: {message}",
        "errorType": error_type, "requestId": request_id, "stackTrace": []})


class Supervisor:
    """A replica backed by a local handler process (``smyth run`` and each worker container)."""

    def __init__(self, spec: ProcessSpec, index: int = 0, launched: Launched | None = None) -> None:
        self.spec = spec
        self._launched = launched  # started ahead by the caller: the first spawn adopts it
        self.handler_name = spec.handler_name
        self.index = index
        self.busy = False
        self.invocations = 0
        self.last_duration_ms: float | None = None
        self.generation = 0
        self._warm = False
        self._debugging = False
        self._stopped = False
        self._current: asyncio.Task[HandlerProcess | InitFailure] | None = None
        self._in_use: asyncio.Task[HandlerProcess | InitFailure] | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    # -- state -----------------------------------------------------------------
    @property
    def warm(self) -> bool:
        return self._warm

    @property
    def state(self) -> ReplicaState:
        if self._stopped:
            return "stopped"
        if self.busy:
            return "busy"
        current = self._current
        if current is None or not current.done():
            return "starting"
        if isinstance(current.result(), InitFailure):
            return "failed"
        return "warm" if self._warm else "cold"

    @property
    def name(self) -> str:
        return f"{self.handler_name}[{self.index}]"

    def _process(self) -> HandlerProcess | InitFailure | None:
        current = self._current
        return current.result() if current is not None and current.done() else None

    def status(self) -> dict[str, Any]:
        process = self._process()
        return {
            "index": self.index,
            "pid": process.pid if isinstance(process, HandlerProcess) else None,
            "state": self.state,
            "invocations": self.invocations,
            "last_duration_ms": self.last_duration_ms,
            "generation": self.generation,
            "debugging": self._debugging,
            "debug_port": self.spec.debug_port,
            "init_error": process.error if isinstance(process, InitFailure) else None,
        }

    def watches(self, changed: set[str]) -> bool:
        process = self._process()
        if not isinstance(process, HandlerProcess):
            return True  # starting or failed: any change may be the fix
        return bool(process.modules & changed)

    # -- life cycle --------------------------------------------------------------
    def _start_new(self, after: asyncio.Task[HandlerProcess | InitFailure] | None = None
                   ) -> asyncio.Task[HandlerProcess | InitFailure]:
        self._warm = False
        self.generation += 1
        self._current = asyncio.ensure_future(self._spawn_after(after))
        return self._current

    async def _spawn_after(self, old: asyncio.Task[HandlerProcess | InitFailure] | None
                           ) -> HandlerProcess | InitFailure:
        """Spawn, once ``old`` (if given) has exited: only one process can listen on the
        replica's debug port, and a debugger attaches to the port, not to a process."""
        if old is not None:
            previous = await asyncio.shield(old)
            if isinstance(previous, HandlerProcess):
                await previous.wait()
        launched, self._launched = self._launched, None
        return await spawn(self.spec, launched)

    async def start(self) -> dict[str, Any] | None:
        process = await self._start_new()
        return process.error if isinstance(process, InitFailure) else None

    async def reload(self) -> None:
        """Start a fresh process; the old one is retired once its invocation is done."""
        old = self._current
        # A debugged replica's new process waits for the old one to free the debug port: it
        # starts at once when the old one is idle, after the invocation in flight otherwise.
        chained = old if self.spec.debug_port is not None else None
        new = self._start_new(after=chained)
        if old is not None and old is not self._in_use:
            self._retire(old)
        elif chained is not None:
            return  # the old process may sit at a breakpoint for long: don't hold up reloads
        await new
        # The process serving an invocation right now is retired at the end of invoke().

    def _retire(self, task: asyncio.Task[HandlerProcess | InitFailure]) -> None:
        async def retire() -> None:
            process = await task
            if isinstance(process, HandlerProcess):
                await process.stop()

        job = asyncio.ensure_future(retire())
        self._retiring.add(job)
        job.add_done_callback(self._retiring.discard)

    def abandon_debugged(self) -> None:
        task = self._in_use
        if self._debugging and task is not None and task.done():
            process = task.result()
            if isinstance(process, HandlerProcess):
                self._stopped = True  # no replacement: we are shutting down
                logger.warning("%s: shutting down: ending the invocation held by the debugger",
                               self.name)
                process.kill()

    async def stop(self) -> None:
        self._stopped = True
        if self._launched is not None:  # started ahead, never adopted
            self._launched.abandon()
            self._launched = None
        current, self._current = self._current, None
        # Reloaded while an invocation runs: that invocation's process is not the current one
        # and is retired only once it ends; it must end with us all the same.
        in_use = self._in_use if self._in_use is not current else None
        await asyncio.gather(self._stop_process(current), self._stop_process(in_use))
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    @staticmethod
    async def _stop_process(task: asyncio.Task[HandlerProcess | InitFailure] | None) -> None:
        if task is None:
            return
        try:
            process = await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            task.cancel()  # a spawn cancelled kills its process
        else:
            if isinstance(process, HandlerProcess):
                await process.stop()

    # -- invocations -------------------------------------------------------------
    async def invoke(self, invocation: Invocation) -> InvocationResult:
        if self._stopped:  # shutting down: never start a process that would outlive us
            return InvocationResult(invocation.request_id, b"", {
                "errorMessage": f"RequestId: {invocation.request_id} Error: the replica has "
                                "stopped (Smyth is shutting down)",
                "errorType": "Runtime.Unavailable", "requestId": invocation.request_id,
                "stackTrace": []}, replica=self.name)
        task = self._current if self._current is not None else self._start_new()
        process = await asyncio.shield(task)
        if isinstance(process, InitFailure):  # Lambda retries a failed init on each invoke
            if not self._stopped:
                task = self._start_new()
                process = await asyncio.shield(task)
            if isinstance(process, InitFailure):
                error = dict(process.error, requestId=invocation.request_id)
                return InvocationResult(invocation.request_id, b"", error, replica=self.name,
                                        init_failed=True)
        self._in_use = task
        try:
            result = await self._run(process, invocation)
        finally:
            self._in_use = None
            # Reloaded while we ran: retire the old process (stop() has, if it came first).
            if task is not self._current and not self._stopped:
                self._retire(task)
        result.replica = self.name
        self.invocations += 1
        self.last_duration_ms = result.duration_ms
        return result

    async def _run(self, process: HandlerProcess, invocation: Invocation) -> InvocationResult:
        request_id = invocation.request_id
        timeout = invocation.timeout
        deadline_ms = int((time.time() + (timeout or 900.0)) * 1000)
        header = {
            "type": "invoke", "request_id": request_id, "deadline_ms": deadline_ms,
            "function_arn": invocation.function_arn, "client_context": invocation.client_context,
            "identity": invocation.identity, "context": invocation.context,
            "log_tail": invocation.log_tail, "trace_id": invocation.trace_id,
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        started = loop.time()
        try:
            await process.send(header, invocation.body)
            while True:
                remaining = None if deadline is None else max(deadline - loop.time(), 0)
                reply, body = await process.receive(remaining)
                if reply["type"] == "debug":
                    # A debugger holds the invocation: the clock stops until it ends.
                    self._debugging = True
                    deadline = None
                    process.drain_output()
                    logger.warning("%s: RequestId %s: %s; its timeout is suspended for "
                                   "this invocation", self.name, request_id,
                                   reply.get("reason", "a debugger stopped it"))
                    await process.send(DEBUG_ACK)
                    continue
                break
            if reply["type"] == "oom":  # past its memory limit: the process is ending
                return await self._crashed(process, invocation, loop.time() - started, oom=True)
        except asyncio.TimeoutError:
            process.drain_output()
            logger.error("%s: RequestId: %s Task timed out after %.2f seconds",
                         self.name, request_id, timeout)
            peak = peak_memory_mb(process.pid)
            process.kill()
            await process.wait()
            if not self._stopped:
                self._start_new()
            return self._unfinished(invocation, "Sandbox.Timedout",
                                    f"Task timed out after {timeout:.2f} seconds",
                                    (timeout or 0.0) * 1000, peak, "timeout")
        except ConnectionError:
            return await self._crashed(process, invocation, loop.time() - started, oom=False)
        finally:
            self._debugging = False
        process.drain_output()  # its START, END and REPORT, and what the handler printed
        self._warm = True
        if "modules" in reply:
            process.modules = set(reply["modules"])
        return InvocationResult(
            request_id=request_id, payload=body, error=reply.get("error"),
            duration_ms=reply.get("duration_ms", 0.0), init_ms=reply.get("init_ms"),
            max_memory_mb=reply.get("max_memory_mb", 0), log=reply.get("log"),
        )

    async def _crashed(self, process: HandlerProcess, invocation: Invocation, elapsed: float,
                       oom: bool) -> InvocationResult:
        """The process ended during the invocation: answer as Lambda does, start a new one.
        ``oom``: the process said it went past its memory limit (``smyth run``)."""
        request_id = invocation.request_id
        if oom:
            process.kill()  # it exits by itself; no need to wait for it to
            await process.wait()
            logger.error("%s: RequestId: %s Error: Runtime.OutOfMemory: the handler went past "
                         "its memory size of %d MB; starting a fresh process", self.name,
                         request_id, self.spec.memory)
            description = "signal: killed"  # what Lambda says of the end it gives such a process
        else:
            await process.wait()
            description = process.exit_description()
            logger.error("%s: RequestId: %s Error: Runtime exited with error: %s",
                         self.name, request_id, description)
            process.kill()
            # Lambda names an out-of-memory end so; in a container, its cgroup tells us.
            oom = description == "signal: killed" and cgroup.oom_killed_since(process.oom_kills)
        if not self._stopped:
            self._start_new()
        return self._unfinished(invocation, "Runtime.OutOfMemory" if oom else "Runtime.ExitError",
                                f"Runtime exited with error: {description}", elapsed * 1000,
                                self.spec.memory if oom else 0, "error")

    def _unfinished(self, invocation: Invocation, error_type: str, message: str,
                    duration_ms: float, max_memory_mb: int, status: str) -> InvocationResult:
        """The result of an invocation its process never finished (killed on a timeout, or
        crashed). That process cannot print END and REPORT any more, so we do, as Lambda's
        own service does for such ends."""
        request_id = invocation.request_id
        result = failure_result(request_id, error_type, message)
        result.duration_ms = duration_ms
        end = [f"END RequestId: {request_id}",
               report_line(request_id, duration_ms, self.spec.memory, max_memory_mb,
                           status=status, error_type=None if status == "timeout" else error_type)]
        prefix = make_prefix(self.spec.label, self.spec.color, sys.stdout)
        sys.stdout.write("".join(f"{prefix}{line}\n" for line in end))
        sys.stdout.flush()
        if invocation.log_tail:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
            result.log = "\n".join([f"START RequestId: {request_id} Version: $LATEST",
                                    f"{stamp} {request_id} {message}", *end]) + "\n"
        return result


def peak_memory_mb(pid: int) -> int:
    """A live process's peak resident memory (Linux); 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
