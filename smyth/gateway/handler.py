"""One configured handler at run time: its pool, its event format and its generators."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smyth.config import Config, HandlerConfig
from smyth.context import generate_context_data
from smyth.dispatcher.pool import ReplicaPool
from smyth.dispatcher.strategy import DispatchStrategy
from smyth.event import ScopeView, generate_event_data
from smyth.events import EventFormat, FormatOptions, get_format
from smyth.exceptions import ConfigError, ImportFromStringError
from smyth.importer import import_from_string
from smyth.types import Replica

Generator = Callable[..., Awaitable[dict[str, Any]]]


@dataclass
class HandlerRuntime:
    config: HandlerConfig
    pool: ReplicaPool
    event_format: EventFormat
    event_generator: Generator
    context_generator: Generator
    function_arn: str
    # What the generators get for a request: Starlette's Request when one is the project's.
    request_type: Callable[..., Any] = ScopeView

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def replicas(self) -> list[Replica]:
        return self.pool.replicas


def _load(config: Config, handler: HandlerConfig, key: str) -> Any:
    try:
        return import_from_string(getattr(handler, key))
    except ImportFromStringError as exc:
        raise ConfigError(str(exc), file=str(config.path),
                          key=f"tool.smyth.handlers.{handler.name}.{key}") from exc


def adapt_arity(func: Callable[..., Any], max_args: int) -> Callable[..., Any]:
    """Call a user generator with as many of our arguments as it accepts."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return func
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return func
    count = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    if count >= max_args:
        return func
    return lambda *args: func(*args[:count])


def build_handler(config: Config, handler: HandlerConfig, replicas: Sequence[Replica]) -> HandlerRuntime:
    strategy_cls = _load(config, handler, "dispatch_strategy_path")
    if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, DispatchStrategy)):
        raise ConfigError(f"{handler.dispatch_strategy_path!r} is not a DispatchStrategy subclass",
                          file=str(config.path),
                          key=f"tool.smyth.handlers.{handler.name}.dispatch_strategy_path")
    options = FormatOptions(function_name=handler.function_name, region=config.region,
                            account_id=config.account_id,
                            multi_value_headers=handler.alb_multi_value_headers)
    event_generator = _load(config, handler, "event_data_generator_path")
    context_generator = _load(config, handler, "context_data_generator_path")
    request_type: Callable[..., Any] = ScopeView
    if (event_generator, context_generator) != (generate_event_data, generate_context_data):
        from starlette.requests import Request  # what custom generators are written against
        request_type = Request
    return HandlerRuntime(
        config=handler,
        pool=ReplicaPool(handler.name, replicas, strategy_cls(handler.name, replicas),
                         handler.max_queue),
        event_format=get_format(handler.event_format, options),
        event_generator=adapt_arity(event_generator, 2),
        context_generator=adapt_arity(context_generator, 3),
        function_arn=config.function_arn(handler),
        request_type=request_type,
    )
