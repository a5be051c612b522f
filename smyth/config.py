"""Configuration: ``[tool.smyth]`` of a pyproject.toml, validated once, with defaults.

Every error names the file and the key at fault. Nothing here knows about HTTP,
processes or Docker; the other layers read the dataclasses built here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from smyth.exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EVENT_FORMATS = ("http-api", "rest-api", "function-url", "alb")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE")
# Earlier key names, accepted with a notice: those of later versions of the original smyth,
# and Smyth's own earlier names.
ALIASES = {
    "event_data_function_path": "event_data_generator_path",
    "context_data_function_path": "context_data_generator_path",
    "strategy_generator_path": "dispatch_strategy_path",
    "env": "environment",
    "queue_size": "max_queue",
}


@dataclass
class HandlerConfig:
    name: str
    handler_path: str
    url_path: str
    timeout: float | None = None
    event_data_generator_path: str = "smyth.event.generate_event_data"
    context_data_generator_path: str = "smyth.context.generate_context_data"
    fake_coldstart_time: bool = False
    log_level: str = "INFO"
    concurrency: int = 1
    dispatch_strategy_path: str = "smyth.dispatcher.strategy.RoundRobinDispatchStrategy"
    environment: dict[str, str] = field(default_factory=dict)
    memory: int = 128
    cpus: float | None = None
    event_format: str = "http-api"
    alb_multi_value_headers: bool = False
    max_queue: int = 100
    debug: bool = False
    debug_port: int | None = None

    @property
    def function_name(self) -> str:
        return self.name


@dataclass
class DockerConfig:
    base_image: str = "python:3.12-slim"
    requirements: str | None = None
    project_name: str | None = None


@dataclass
class Config:
    path: Path
    handlers: dict[str, HandlerConfig]
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    env_file: str | None = None
    reload: bool = True
    region: str = "us-east-1"
    account_id: str = "123456789012"
    docker: DockerConfig = field(default_factory=DockerConfig)
    notices: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent

    def env_file_values(self) -> dict[str, str]:
        if not self.env_file:
            return {}
        from dotenv import dotenv_values

        env_path = self.root / self.env_file
        if not env_path.is_file():
            raise ConfigError(f"env file {str(env_path)!r} does not exist", file=str(self.path),
                              key="tool.smyth.env_file")
        return {k: v for k, v in dotenv_values(env_path).items() if v is not None}

    def function_arn(self, handler: HandlerConfig) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{handler.function_name}"

    def handler_environment(self, handler: HandlerConfig, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment a handler process sees: ours, the env file, the handler's
        table, then the variables the Lambda runtime sets."""
        env = dict(os.environ if base is None else base)
        env.update(self.env_file_values())
        env.update(handler.environment)
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": handler.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(handler.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(handler.timeout)) if handler.timeout else "900",
            "AWS_LAMBDA_FUNCTION_HANDLER": handler.handler_path,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{handler.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
            "LAMBDA_TASK_ROOT": str(self.root),
            "AWS_REGION": env.get("AWS_REGION", self.region),
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", self.region),
            "PYTHONUNBUFFERED": "1",
        })
        return env


# -- validation ---------------------------------------------------------------------

def _type_name(tp: Any) -> str:
    args = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) is dict:
        return "a table"
    base = args[0] if args else tp
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        base, getattr(base, "__name__", str(base)))


def _check_type(value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp``, or raise TypeError."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option)
            except TypeError:
                pass
        raise TypeError
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if tp is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    raise TypeError


def _build(cls: type, table: dict[str, Any], file: str, prefix: str, fixed: dict[str, Any],
           notices: list[str]) -> Any:
    hints = get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    values: dict[str, Any] = dict(fixed)
    for key, value in table.items():
        if key in ALIASES and ALIASES[key] in allowed:
            notices.append(f"{file}: {prefix}.{key} is now called {ALIASES[key]!r}; "
                           f"the old name still works")
            key = ALIASES[key]
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f" Did you mean {hint[0]!r}?" if hint else f" Known keys: {', '.join(allowed)}."
            raise ConfigError(f"unknown key.{suggestion}", file=file, key=f"{prefix}.{key}")
        try:
            values[key] = _check_type(value, hints[key])
        except TypeError:
            # A table is an environment: a string given instead may hold a secret, so it is
            # named by its type, never quoted.
            shown = repr(value) if get_origin(hints[key]) is not dict else \
                "a string" if isinstance(value, str) else f"a {type(value).__name__}"
            raise ConfigError(f"must be {_type_name(hints[key])}, not {shown}", file=file,
                              key=f"{prefix}.{key}") from None
    for f in dataclasses.fields(cls):
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError("is required but missing", file=file, key=f"{prefix}.{f.name}")
    return cls(**values)


def _validate_handler(handler: HandlerConfig, file: str) -> None:
    prefix = f"tool.smyth.handlers.{handler.name}"

    def fail(key: str, message: str) -> None:
        raise ConfigError(message, file=file, key=f"{prefix}.{key}")

    if "." not in handler.handler_path.strip("."):
        fail("handler_path", f"{handler.handler_path!r} must be a dotted path ending in the "
                             "function, e.g. 'app.handlers.handler'")
    if not handler.url_path.startswith("/"):
        fail("url_path", f"{handler.url_path!r} must start with '/'")
    if handler.concurrency < 1:
        fail("concurrency", "must be at least 1")
    if handler.timeout is not None and not 0 < handler.timeout <= 900:
        fail("timeout", "must be between 0 and 900 seconds (Lambda's maximum)")
    if not 128 <= handler.memory <= 10240:
        fail("memory", "must be between 128 and 10240 MB (Lambda's range)")
    if handler.event_format not in EVENT_FORMATS:
        hint = difflib.get_close_matches(handler.event_format, EVENT_FORMATS, n=1)
        fail("event_format", f"unknown format {handler.event_format!r}; one of "
                             f"{', '.join(EVENT_FORMATS)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if handler.log_level.upper() not in LOG_LEVELS:
        fail("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
    if handler.max_queue < 0:
        fail("max_queue", "must be 0 or more")
    if handler.cpus is not None and handler.cpus <= 0:
        fail("cpus", "must be more than 0")


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None:
        path = Path(explicit)
        if path.is_dir():
            path = path / "pyproject.toml"
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        return path.resolve()
    path = Path.cwd() / "pyproject.toml"
    if not path.is_file():
        raise ConfigError(f"no pyproject.toml in {Path.cwd()}: run smyth in your project's "
                          "directory or pass --config PATH")
    return path.resolve()


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=file) from exc
    table = data.get("tool", {}).get("smyth")
    if not isinstance(table, dict):
        raise ConfigError("has no [tool.smyth] table: add one with at least one handler "
                          "under [tool.smyth.handlers.NAME]", file=file)
    table = dict(table)
    notices: list[str] = []
    raw_handlers = table.pop("handlers", None)
    if not isinstance(raw_handlers, dict) or not raw_handlers:
        raise ConfigError("define at least one handler as [tool.smyth.handlers.NAME] with "
                          "handler_path and url_path", file=file, key="tool.smyth.handlers")
    raw_docker = table.pop("docker", {})
    if not isinstance(raw_docker, dict):
        raise ConfigError("must be a table", file=file, key="tool.smyth.docker")
    handlers: dict[str, HandlerConfig] = {}
    for name, raw in raw_handlers.items():
        if not isinstance(raw, dict):
            raise ConfigError("must be a table", file=file, key=f"tool.smyth.handlers.{name}")
        handler = _build(HandlerConfig, raw, file, f"tool.smyth.handlers.{name}", {"name": name},
                         notices)
        handler.log_level = handler.log_level.upper()
        _validate_handler(handler, file)
        handlers[name] = handler
    docker = _build(DockerConfig, raw_docker, file, "tool.smyth.docker", {}, notices)
    env_file_given = "env_file" in table
    config: Config = _build(Config, table, file, "tool.smyth",
                            {"path": path, "handlers": handlers, "docker": docker,
                             "notices": notices}, notices)
    if not env_file_given and (path.parent / ".env").is_file():
        config.env_file = ".env"
    if not 0 <= config.port <= 65535:
        raise ConfigError("must be between 0 and 65535", file=file, key="tool.smyth.port")
    config.log_level = config.log_level.upper()
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"must be one of {', '.join(LOG_LEVELS)}", file=file,
                          key="tool.smyth.log_level")
    config.env_file_values()  # a missing or unreadable env file fails now, not per request
    return config


def select_handlers(config: Config, only: tuple[str, ...] | list[str]) -> None:
    """Keep only the named handlers (``--only``), failing on an unknown name."""
    if not only:
        return
    for name in only:
        if name not in config.handlers:
            hint = difflib.get_close_matches(name, list(config.handlers), n=1)
            raise ConfigError(f"--only {name!r}: no such handler" +
                              (f"; did you mean {hint[0]!r}?" if hint else
                               f"; handlers are {', '.join(config.handlers)}"), file=str(config.path))
    config.handlers = {name: h for name, h in config.handlers.items() if name in only}
