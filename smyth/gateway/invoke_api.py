"""The Lambda Invoke API on the gateway (filled in by the AWS-fidelity work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from smyth.gateway.app import Gateway


def routes(gateway: Gateway) -> list[BaseRoute]:
    return []
