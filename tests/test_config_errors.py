"""Config errors: one clear message naming file and key, exit status 2, nothing listening."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import write_project

HANDLER = {"app.py": "def handler(event, context):\n    return {}\n"}


def smyth(project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smyth", *args], check=False, cwd=project,
                          capture_output=True, text=True, timeout=60)


CASES = {
    "unknown key with did-you-mean": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        timout = 3
        """, ["tool.smyth.handlers.a.timout", "Did you mean 'timeout'?"]),
    "unknown top-level key": (
        """
        [tool.smyth]
        prot = 8080
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        """, ["tool.smyth.prot", "Did you mean 'port'?"]),
    "wrong type": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        concurrency = "four"
        """, ["tool.smyth.handlers.a.concurrency", "must be an integer", "'four'"]),
    "missing required key": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        """, ["tool.smyth.handlers.a.url_path", "required"]),
    "invalid TOML with its line": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler
        url_path = "/a"
        """, ["invalid TOML", "line 3"]),
    "no handlers": (
        """
        [tool.smyth]
        port = 1
        """, ["tool.smyth.handlers", "at least one handler"]),
    "handler that does not import": (
        """
        [tool.smyth.handlers.a]
        handler_path = "missing_module.handler"
        url_path = "/a"
        """, ["tool.smyth.handlers.a.handler_path", "Runtime.ImportModuleError",
              "missing_module"]),
    "handler function missing": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.nothere"
        url_path = "/a"
        """, ["tool.smyth.handlers.a.handler_path", "Handler 'nothere' missing on module 'app'"]),
    "strategy path that does not import": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        dispatch_strategy_path = "nowhere.Strategy"
        """, ["tool.smyth.handlers.a.dispatch_strategy_path", "nowhere"]),
    "negative max_queue": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        max_queue = -1
        """, ["tool.smyth.handlers.a.max_queue", "must be 0 or more"]),
    "negative max_queue under its old name": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        queue_size = -1
        """, ["tool.smyth.handlers.a.max_queue", "must be 0 or more"]),
    "unknown event format": (
        """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        event_format = "http_api"
        """, ["tool.smyth.handlers.a.event_format", "did you mean 'http-api'"]),
    "missing env file": (
        """
        [tool.smyth]
        env_file = "local.env"
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        """, ["tool.smyth.env_file", "local.env", "does not exist"]),
    "unknown --only name": (
        """
        [tool.smyth.handlers.alpha]
        handler_path = "app.handler"
        url_path = "/a"
        """, ["--only 'alpah'", "did you mean 'alpha'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_error_names_file_and_key_and_exits_2(tmp_path, case):
    config, expected = CASES[case]
    files = {**HANDLER, "broken.py": "1 / 0\ndef handler(e, c):\n    return 1\n"}
    project = write_project(tmp_path / "p", config, files)
    args = ["run", "--port", "0"] + (["--only", "alpah"] if "--only" in case else [])
    result = smyth(project, *args)
    assert result.returncode == 2, result.stderr
    assert str(project / "pyproject.toml") in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Smyth serving" not in result.stderr  # nothing listened
    assert "Traceback (most recent call last)" not in result.stderr.split("smyth: error:")[-1]


def test_no_pyproject_says_where_and_what_to_do(tmp_path):
    result = smyth(tmp_path, "run")
    assert result.returncode == 2
    assert "no pyproject.toml" in result.stderr and "--config" in result.stderr


def test_config_option_points_elsewhere(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        """, HANDLER)
    run = smyth_run(tmp_path, "--config", str(project / "pyproject.toml"))
    with run.client() as client:
        assert client.get("/a").json() == {}


@pytest.mark.parametrize("command", [[], ["run"]])
def test_help_works_outside_a_project(tmp_path, command):
    result = smyth(tmp_path, *command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_old_key_names_work_with_a_notice(tmp_path, smyth_run):
    project = write_project(tmp_path / "p", """
        [tool.smyth.handlers.a]
        handler_path = "app.handler"
        url_path = "/a"
        env = { COLOUR = "blue" }
        queue_size = 7
        """, {"app.py": "import os\ndef handler(e, c):\n    return os.environ['COLOUR']\n"})
    run = smyth_run(project)
    with run.client() as client:
        assert client.get("/a").text == "blue"
    assert "tool.smyth.handlers.a.env is now called 'environment'" in run.output
    assert "tool.smyth.handlers.a.queue_size is now called 'max_queue'" in run.output
    assert run.status()["handlers"]["a"]["config"]["max_queue"] == 7
