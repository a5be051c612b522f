"""The projects the benchmark serves: Smyth handlers and a plain ASGI app with the same JSON.

Both sides answer ``GET`` with the same bytes, ``{"message": "hello", "version": N}`` as
``application/json``: the handlers return the dict (an HTTP API infers a 200 JSON response
from it) and the baseline sends the identical body from a bare ASGI callable, the least
any server can do to serve it.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path


# What every handler and the baseline answer; the version is what a reload changes.
def answer(version: int) -> bytes:
    return json.dumps({"message": "hello", "version": version}).encode()


HANDLER = '''\
"""{doc}"""
{imports}
VERSION = {version}


def handler(event, context):
    return {{"message": "hello", "version": VERSION}}
'''

BASELINE = '''\
"""The baseline: a bare ASGI app answering every request with the same JSON."""

BODY = {body!r}
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"{length}")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
    await send({{"type": "http.response.body", "body": BODY}})
'''

CONFIG = """\
[tool.smyth]
host = "127.0.0.1"

[tool.smyth.handlers.c1]
handler_path = "handlers.one.handler"
url_path = "/c1"

[tool.smyth.handlers.c4]
handler_path = "handlers.four.handler"
url_path = "/c4"
concurrency = 4

[tool.smyth.handlers.edit]
handler_path = "handlers.edit.handler"
url_path = "/edit"
"""

SINGLE_CONFIG = """\
[tool.smyth.handlers.c1]
handler_path = "handlers.one.handler"
url_path = "/c1"
"""


@dataclass
class Projects:
    """Where each side's files live. Separate directories: one side's edits never wake
    the other side's watcher."""

    smyth: Path  # c1 (concurrency 1), c4 (concurrency 4) and edit, the reload target
    single: Path  # one handler, for startup against the one-app baseline
    baseline: Path  # baseline.py, the plain ASGI app

    @property
    def edit_file(self) -> Path:
        return self.smyth / "handlers" / "edit.py"

    @property
    def shared_file(self) -> Path:
        return self.smyth / "handlers" / "shared.py"

    @property
    def baseline_file(self) -> Path:
        return self.baseline / "baseline.py"


def handler_source(version: int, doc: str = "A benchmark handler.", imports: str = "") -> str:
    return HANDLER.format(doc=doc, imports=imports, version=version)


def baseline_source(version: int) -> str:
    body = answer(version)
    return BASELINE.format(body=body, length=len(body))


def write_handlers(root: Path, config: str, with_shared: bool) -> None:
    (root / "handlers").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(config)
    (root / "handlers" / "__init__.py").write_text("")
    # c1 and c4 import shared.py; edit does not: the reload-scope check edits both files.
    imports = "from handlers import shared  # noqa: F401\n" if with_shared else ""
    (root / "handlers" / "one.py").write_text(handler_source(1, "Concurrency 1.", imports))
    (root / "handlers" / "four.py").write_text(handler_source(1, "Concurrency 4.", imports))
    if with_shared:
        (root / "handlers" / "shared.py").write_text("SHARED = 1\n")
        (root / "handlers" / "edit.py").write_text(handler_source(1, "Edited by the bench."))


def write_projects(base: Path) -> Projects:
    projects = Projects(smyth=base / "smyth", single=base / "single", baseline=base / "baseline")
    write_handlers(projects.smyth, CONFIG, with_shared=True)
    write_handlers(projects.single, SINGLE_CONFIG, with_shared=False)
    projects.baseline.mkdir(parents=True, exist_ok=True)
    projects.baseline_file.write_text(baseline_source(1))
    relay = Path(__file__).resolve().parent / "relay.py"
    (projects.baseline / "relay.py").write_text(relay.read_text())
    return projects


def reference_script(root: Path, module: str) -> str:
    """A bare interpreter that imports what a handler imports, then waits: the memory
    a replica would use if Smyth itself cost nothing."""
    return textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        {f"import {module}" if module else ""}
        print("ready", flush=True)
        sys.stdin.read()
    """)
