"""Dispatch strategies: which idle replica serves the next invocation.

A custom strategy is any class named by ``dispatch_strategy_path`` that subclasses
``DispatchStrategy``; it is built once per handler with the handler's name and its
replicas, and ``select`` is called with the idle ones (never an empty list).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from smyth.types import Replica


class DispatchStrategy(ABC):
    def __init__(self, handler_name: str, replicas: Sequence[Replica]) -> None:
        self.handler_name = handler_name
        self.replicas = replicas

    @abstractmethod
    def select(self, idle: Sequence[Replica]) -> Replica:
        """Pick one of ``idle`` to serve the next invocation."""


class RoundRobinDispatchStrategy(DispatchStrategy):
    """Take turns, so that code which leans on one replica's global state shows it."""

    def __init__(self, handler_name: str, replicas: Sequence[Replica]) -> None:
        super().__init__(handler_name, replicas)
        self._last = -1

    def select(self, idle: Sequence[Replica]) -> Replica:
        count = len(self.replicas)
        by_index = {replica.index: replica for replica in idle}
        for step in range(1, count + 1):
            index = (self._last + step) % count
            if index in by_index:
                self._last = index
                return by_index[index]
        self._last = idle[0].index
        return idle[0]


class FirstWarmDispatchStrategy(DispatchStrategy):
    """Prefer a warm replica, as Lambda reuses warm execution environments; else a cold one."""

    def select(self, idle: Sequence[Replica]) -> Replica:
        for replica in idle:
            if replica.warm:
                return replica
        return idle[0]
