"""The gateway: its handlers, their replicas' life cycle, and its ASGI app."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from smyth.asgi import ASGIApp, Message, Receive, Scope, Send
from smyth.config import Config
from smyth.exceptions import ConfigError
from smyth.gateway.access import AccessLog
from smyth.gateway.handler import HandlerRuntime
from smyth.gateway.http import Endpoint
from smyth.redact import redact_env
from smyth.startup import start_replicas
from smyth.types import Replica

logger = logging.getLogger("smyth.gateway")

# API Gateway's ANY method.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
RESERVED = ("/__/", "/2015-03-31/")  # Smyth's status and the Invoke API come first


class Gateway:
    def __init__(self, config: Config, handlers: dict[str, HandlerRuntime]) -> None:
        self.config = config
        self.handlers = handlers

    @property
    def replicas(self) -> list[Replica]:
        return [replica for handler in self.handlers.values() for replica in handler.replicas]

    async def start(self) -> dict[str, dict[str, Any]]:
        """Start every replica at once; the init errors that stop the gateway, by handler."""
        return await start_replicas(self.replicas)

    async def stop(self) -> None:
        await asyncio.gather(*(replica.stop() for replica in self.replicas),
                             return_exceptions=True)

    def abandon_debugged(self) -> None:
        """Shutting down: a paused debugger must not hold the exit for the grace period."""
        for replica in self.replicas:
            replica.abandon_debugged()

    async def reload_changed(self, changed: set[str]) -> list[str]:
        """Reload the replicas whose imported files changed; return the handlers reloaded."""
        targets = [replica for replica in self.replicas if replica.watches(changed)]
        names = sorted({replica.handler_name for replica in targets})
        if names:
            logger.info("Reloading %s (changed: %s)", ", ".join(names),
                        ", ".join(sorted(changed)[:3]) + (" …" if len(changed) > 3 else ""))
            await asyncio.gather(*(replica.reload() for replica in targets))
        return names

    def status(self) -> dict[str, Any]:
        config = {k: v for k, v in dataclasses.asdict(self.config).items()
                  if k not in ("handlers", "notices")}
        config["path"] = str(self.config.path)
        try:  # what the env file gave, so a developer sees that it loaded; secrets masked
            config["env_file_variables"] = redact_env(self.config.env_file_values())
        except ConfigError:
            config["env_file_variables"] = None  # deleted since the start
        return {
            "config": config,
            "handlers": {
                name: {
                    "url_path": handler.config.url_path,
                    "function_arn": handler.function_arn,
                    "queued": handler.pool.queued,
                    "replicas": [replica.status() for replica in handler.replicas],
                    "config": {**dataclasses.asdict(handler.config),  # secrets masked
                               "environment": redact_env(handler.config.environment)},
                }
                for name, handler in self.handlers.items()
            },
        }

    def app(self, access: AccessLog | None = None) -> ASGIApp:
        """The gateway's ASGI app; ``access`` writes the access log (uvicorn's is off)."""
        access = access or AccessLog("warning")
        # A handler's fixed path goes straight to its endpoint, a bare ASGI app: Starlette's
        # middleware and route matching were a fifth of the gateway's Python per request,
        # and importing it a tenth of the startup. Paths with parameters, other methods
        # (405) and Smyth's own routes go to a Starlette app, built the first time one comes.
        endpoints = {name: Endpoint(h, access) for name, h in self.handlers.items()}
        fixed = {h.config.url_path: endpoints[name] for name, h in self.handlers.items()
                 if "{" not in h.config.url_path and not h.config.url_path.startswith(RESERVED)}
        methods = frozenset(ANY_METHOD)
        router: list[ASGIApp] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] in methods:
                endpoint = fixed.get(scope["path"])
                if endpoint is not None:
                    await endpoint(scope, receive, send)
                    return
            if not router:
                from smyth.gateway import router as starlette_router
                router.append(starlette_router.build(self, endpoints, ANY_METHOD))
            if scope["type"] != "http":
                await router[0](scope, receive, send)
                return
            status: list[int] = []

            async def noting_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                await send(message)

            try:
                await router[0](scope, receive, noting_status)
            finally:
                if status:
                    access(scope, status[0])

        return app
