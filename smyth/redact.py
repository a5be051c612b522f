"""Secret redaction: what Smyth prints or serves never shows the value of a secret variable.

The rule is by name: a variable whose name contains KEY, SECRET, TOKEN, PASSWORD, PASSWD or
CREDENTIAL (in any case) is a secret, so ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``API_KEY`` and ``db_password`` are; its name stays visible, its value becomes ``***``.
Applied to every environment table Smyth shows: a handler's ``environment``, the env file's
values, and the process environment. Standard library only: the worker imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

MASK = "***"
SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL")


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with the value of every secret variable replaced by ``***``."""
    return {name: MASK if is_secret(name) else value for name, value in env.items()}
