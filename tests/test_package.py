"""The package as users get it: the bundled example, the wheel, a lean handler process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
from conftest import wait_for, write_project

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_example_serves_its_handlers(tmp_path, smyth_run):
    example = shutil.copytree(ROOT / "examples" / "hello", tmp_path / "hello")
    run = smyth_run(example)
    with run.client() as client:
        assert client.get("/hello/world").text == "Hello, world!"
        first, second = client.get("/counter").json(), client.get("/counter").json()
        assert second["count"] == first["count"] + 1
        echoed = client.post("/echo/some/path?x=1", content="hi",
                             headers={"content-type": "text/plain"}).json()
    assert echoed["event"]["body"] == "hi" and echoed["greeting"] == "hi"


def test_handler_process_sees_no_gateway_modules(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.mods]
        handler_path = "app.handler"
        url_path = "/mods"
        """, {"app.py": """
        import sys
        def handler(event, context):
            return sorted(m for m in sys.modules if m.split(".")[0] in
                          ("starlette", "uvicorn", "httpx", "click", "docker", "anyio",
                           "watchfiles", "yaml"))
        """})
    run = smyth_run(project)
    assert httpx.get(run.url + "/mods", timeout=30).json() == []


def test_worker_server_loads_no_web_framework():
    """Each worker container imports the worker server: three fixed routes on bare ASGI, so
    Starlette (and what it pulls in) stays out of every container's start-up."""
    script = "import sys, smyth.runtime.worker; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout
    assert "'uvicorn'" in loaded and "'starlette'" not in loaded and "'httpx'" not in loaded


def test_smyth_run_loads_no_asyncio_before_launching_its_handlers():
    """`smyth run` launches its handler processes right after reading the config, so each
    child's interpreter starts while the gateway imports asyncio and uvicorn: the command's
    module and what it needs to launch must not pull them in."""
    script = ("import sys, smyth.cli.run, smyth.runtime.launch, smyth.runtime.local; "
              "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout
    assert "'click'" in loaded and "'asyncio'" not in loaded and "'uvicorn'" not in loaded


GATEWAY_SCRIPT = """
import asyncio, json, sys
from smyth.config import load_config
from smyth.runtime.local import local_replicas
from smyth.server import build_gateway

def loaded():
    return sorted(m for m in sys.modules if m.startswith(("starlette", "anyio._backends")))

async def get(app, path):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"host", b"x")], "http_version": "1.1",
             "scheme": "http", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]

async def main():
    config = load_config(sys.argv[1])
    gateway = build_gateway(config, lambda handler, position: local_replicas(config, handler))
    await gateway.start()
    try:
        app = gateway.app()
        fixed = await get(app, "/fixed")
        before = loaded()
        status = await get(app, "/__/status")
        print("RESULT", json.dumps({"fixed": [fixed[0], fixed[1].decode()], "before": before,
                          "status": status[0], "after": loaded()}))
    finally:
        await gateway.stop()

asyncio.run(main())
"""


def test_gateway_serves_a_fixed_route_without_starlette(tmp_path):
    """The gateway loads Starlette (and anyio's event loop backend) only for the routes that
    need a router: a project whose routes are fixed paths starts and serves without it."""
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.fixed]
        handler_path = "app.handler"
        url_path = "/fixed"
        """, {"app.py": "def handler(event, context):\n    return {'ok': True}\n"})
    out = subprocess.run([sys.executable, "-c", GATEWAY_SCRIPT, str(project / "pyproject.toml")],
                         check=False, capture_output=True, text=True, timeout=60, cwd=project)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert result["fixed"] == [200, '{"ok": true}'] and result["before"] == []
    assert result["status"] == 200 and "starlette.routing" in result["after"]


def test_reload_can_be_turned_off(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth]
        reload = false
        [tool.smyth.handlers.v]
        handler_path = "app.handler"
        url_path = "/v"
        """, {"app.py": "def handler(e, c):\n    return 1\n"})
    frozen = smyth_run(project)
    watching = smyth_run(project, "--reload")  # the same project, watched: our yardstick
    assert httpx.get(frozen.url + "/v", timeout=30).text == "1"
    (project / "app.py").write_text("def handler(e, c):\n    return 2\n")
    wait_for(lambda: httpx.get(watching.url + "/v", timeout=30).text == "2",
             message="the watching gateway to reload")
    assert httpx.get(frozen.url + "/v", timeout=30).text == "1"
    assert frozen.status()["handlers"]["v"]["replicas"][0]["generation"] == 1
    assert "Reloading" not in frozen.output


def test_wheel_holds_the_package_and_entry_point(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("smyth-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "smyth = smyth.cli:main" in archive.read(entry_points).decode()
    assert {"smyth/runtime/bootstrap.py", "smyth/cli/__init__.py", "smyth/__main__.py"} <= names
