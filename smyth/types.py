"""Types shared across layers. A leaf module: it imports nothing else of Smyth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ReplicaState = Literal["starting", "cold", "warm", "busy", "failed", "stopped"]


@dataclass
class Invocation:
    """One call of a handler, as the gateway hands it to a replica."""

    request_id: str
    body: bytes  # the event, JSON-encoded once by whoever built it
    timeout: float | None  # seconds; None means no limit
    function_arn: str
    client_context: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)  # from a custom context generator
    log_tail: bool = False
    trace_id: str | None = None


@dataclass
class InvocationResult:
    request_id: str
    payload: bytes  # the handler's return value as JSON; empty on error
    error: dict[str, Any] | None = None  # the Lambda error object when the function failed
    duration_ms: float = 0.0
    init_ms: float | None = None  # set on a cold start
    max_memory_mb: int = 0
    log: str | None = None  # the invocation's log, last 4 KB, when asked for
    replica: str = ""
    init_failed: bool = False  # the handler never initialised: the error is its init error

    @property
    def ok(self) -> bool:
        return self.error is None


class Replica(Protocol):
    """Something that runs one invocation at a time: a local process or a container."""

    handler_name: str
    index: int
    busy: bool

    @property
    def state(self) -> ReplicaState: ...

    @property
    def warm(self) -> bool: ...

    async def start(self) -> dict[str, Any] | None:
        """Start and import the handler; return the init error object, if any."""

    async def invoke(self, invocation: Invocation) -> InvocationResult: ...

    async def reload(self) -> None:
        """Replace the handler process with a fresh one (new code, new state)."""

    def watches(self, changed: set[str]) -> bool:
        """Whether a change to any of these files must reload this replica."""

    async def stop(self) -> None: ...

    def abandon_debugged(self) -> None:
        """At shutdown: end an invocation that a debugger holds, instead of waiting on it."""

    def status(self) -> dict[str, Any]: ...
