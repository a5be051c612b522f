"""Import an object from a dotted path such as ``package.module.attribute``."""

from __future__ import annotations

import importlib
from typing import Any

from smyth.exceptions import ImportFromStringError


def import_from_string(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImportFromStringError(
            f"{path!r} is not a dotted path: expected 'package.module.attribute'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ImportFromStringError(f"module {module_name!r} not found ({exc})") from exc
        raise ImportFromStringError(
            f"module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise ImportFromStringError(
            f"module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportFromStringError(f"module {module_name!r} has no attribute {attr!r}") from exc
