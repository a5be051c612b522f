"""Errors Smyth raises.

SmythError
 ├── ConfigError          bad or missing configuration (the CLI exits 2)
 ├── ImportFromStringError a dotted path that does not import
 ├── DispatchError
 │    └── QueueFullError  every replica busy and the wait queue full (HTTP 429)
 ├── ReplicaError         a replica could not run an invocation at all
 └── StackError           Docker mode: a container, image or network operation failed
"""

from __future__ import annotations


class SmythError(Exception):
    """Base of every error Smyth raises on purpose."""


class ConfigError(SmythError):
    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(part for part in (file, f"key {key!r}" if key else None) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ImportFromStringError(SmythError):
    pass


class DispatchError(SmythError):
    pass


class QueueFullError(DispatchError):
    pass


class ReplicaError(SmythError):
    pass


class StackError(SmythError):
    pass
