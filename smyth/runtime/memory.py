"""``memory`` enforced on a local handler process (``smyth run``), standard library only.

Lambda kills a function that goes past its memory size; in Docker mode the container's
memory cgroup does the same. A local process has no such cgroup, so the handler process caps
its own address space (``RLIMIT_AS``) instead: an allocation past the cap fails, Python raises
``MemoryError``, and the runtime answers the invocation with Lambda's ``Runtime.OutOfMemory``
and ends the process (see ``bootstrap``).

An address space is not a resident set: Python maps its interpreter, shared libraries, thread
stacks and malloc arenas far beyond what it touches. A bare ``memory`` MB cap would break an
ordinary handler at 128 MB, so the budget is counted on top of what the runtime has mapped
before the handler is imported, and grows by one thread stack whenever the handler has more
threads alive than ever before. The supervisor starts the process with ``MALLOC_ARENA_MAX``
so that threads share malloc's arena instead of reserving 64 MB each.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable
from typing import Any

MB = 1024 * 1024
# glibc's default thread stack when RLIMIT_STACK is unlimited (x86_64; others use less).
UNLIMITED_STACK_DEFAULT = 32 * MB
# Per thread beyond its stack: the guard page, thread-local storage, Python's thread state.
THREAD_OVERHEAD = 1 * MB
# The environment a limited handler process starts with (unless already set): one malloc arena.
ENVIRONMENT = {"MALLOC_ARENA_MAX": "1"}


def vm_size() -> int | None:
    """This process's address-space size in bytes (Linux), or None where /proc cannot tell."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def thread_stack_size() -> int:
    """The address space one new thread reserves for its stack."""
    configured = threading.stack_size()
    if configured:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return UNLIMITED_STACK_DEFAULT if soft == resource.RLIM_INFINITY else soft


class MemoryLimit:
    """The address-space cap of this process: its size when created, plus ``memory_mb``,
    plus one stack for each thread beyond the most that were ever alive at once."""

    def __init__(self, memory_mb: int, baseline: int) -> None:
        self.memory_mb = memory_mb
        self.baseline = baseline
        self.per_thread = thread_stack_size() + THREAD_OVERHEAD
        self.threads = threading.active_count()  # their stacks are in the baseline already
        self.limit = baseline + memory_mb * MB
        self._lock = threading.Lock()
        self._apply()

    def _apply(self) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = self.limit if hard == resource.RLIM_INFINITY else min(self.limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def thread_starting(self) -> None:
        with self._lock:
            alive = threading.active_count() + 1
            if alive > self.threads:
                self.limit += (alive - self.threads) * self.per_thread
                self.threads = alive
                self._apply()

    def describe(self) -> str:
        return (f"{self.memory_mb} MB on top of the runtime's {self.baseline // MB} MB address "
                f"space; limit now {self.limit // MB} MB")


def install(memory_mb: int) -> MemoryLimit | None:
    """Cap this process's address space; None where it cannot be measured (not Linux)."""
    baseline = vm_size()
    if baseline is None:
        return None
    try:
        limit = MemoryLimit(memory_mb, baseline)
    except (ValueError, OSError):  # a hard limit below our own size: leave it be
        return None
    start: Callable[..., Any] = threading.Thread.start

    def start_counted(thread: threading.Thread) -> None:
        limit.thread_starting()  # before the stack is mapped: the new thread fits
        start(thread)

    threading.Thread.start = start_counted  # type: ignore[method-assign,assignment]
    return limit
