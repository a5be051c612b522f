"""A handler's replicas: one invocation per replica at a time, a bounded FIFO wait queue."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from smyth.dispatcher.strategy import DispatchStrategy
from smyth.exceptions import QueueFullError
from smyth.types import Invocation, InvocationResult, Replica


class ReplicaPool:
    def __init__(self, handler_name: str, replicas: Sequence[Replica], strategy: DispatchStrategy,
                 max_queue: int) -> None:
        self.handler_name = handler_name
        self.replicas = list(replicas)
        self.strategy = strategy
        self.max_queue = max_queue
        self._waiters: deque[asyncio.Future[Replica]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> Replica:
        idle = [replica for replica in self.replicas if not replica.busy]
        if idle and not self._waiters:
            replica = self.strategy.select(idle)
            replica.busy = True
            return replica
        if len(self._waiters) >= self.max_queue:
            raise QueueFullError(
                f"{self.handler_name}: all {len(self.replicas)} replicas are busy and "
                f"{len(self._waiters)} requests are waiting (max_queue)")
        waiter: asyncio.Future[Replica] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed over just as we gave up
            else:
                self._waiters.remove(waiter)
            raise

    def release(self, replica: Replica) -> bool:
        """Free ``replica``, or hand it to the first waiting caller (True then)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(replica)  # stays busy: it moves straight to the next caller
                return True
        replica.busy = False
        return False

    async def invoke(self, invocation: Invocation) -> InvocationResult:
        replica = await self.acquire()
        try:
            result = await replica.invoke(invocation)
        except BaseException:
            self.release(replica)
            raise
        if self.release(replica):
            # Under load: let the caller that got the replica send its invocation before
            # this one's response is written, so the replica works while we answer instead
            # of idling until our task is done.
            await asyncio.sleep(0)
        return result
