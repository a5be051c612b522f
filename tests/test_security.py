"""Security defaults of ``smyth run`` (and of the files ``smyth up`` writes), on real processes:
where the gateway listens, what the status endpoint and the logs show of secret variables,
what the handler processes may do, and who may read ``.smyth/compose.yaml``."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import write_project

from smyth.config import load_config
from smyth.exceptions import ConfigError
from smyth.redact import MASK, is_secret, redact_env

# Each secret is unique, so finding it anywhere means it leaked from exactly that place.
TABLE_SECRET = "table-secret-7f3a91"
DOTENV_SECRET = "dotenv-secret-c04e2b"
PROCESS_SECRET = "process-secret-9d15e8"
TABLE_PLAIN = "table-plain-51b7"
DOTENV_PLAIN = "dotenv-plain-a3c2"
PROCESS_PLAIN = "process-plain-e6d0"
SECRETS = (TABLE_SECRET, DOTENV_SECRET, PROCESS_SECRET)

CONFIG = f"""
[tool.smyth.handlers.app]
handler_path = "app.handler"
url_path = "/app"
log_level = "DEBUG"
environment = {{ API_KEY = "{TABLE_SECRET}", GREETING = "{TABLE_PLAIN}" }}
"""

APP = """
import logging
import os

NAMES = ("API_KEY", "GREETING", "AWS_SECRET_ACCESS_KEY", "DOTENV_PLAIN", "MY_SERVICE_TOKEN",
         "PROCESS_PLAIN")

def handler(event, context):
    # The non-secret values only, in the log; the body proves the secrets reached the handler.
    print("plain values:", os.environ["GREETING"], os.environ["DOTENV_PLAIN"],
          os.environ["PROCESS_PLAIN"])
    logging.getLogger().debug("handler debug line")
    return {name: os.environ.get(name) for name in NAMES}
"""

DOTENV = f"""
AWS_SECRET_ACCESS_KEY={DOTENV_SECRET}
DOTENV_PLAIN={DOTENV_PLAIN}
"""

PROCESS_ENV = {"MY_SERVICE_TOKEN": PROCESS_SECRET, "PROCESS_PLAIN": PROCESS_PLAIN}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "secure", CONFIG, {"app.py": APP})
    (root / ".env").write_text(DOTENV)
    return root


# -- where it listens ---------------------------------------------------------------------

def _address(hex_address: str) -> tuple[str, int]:
    """An address of /proc/net/tcp{,6}: ``0100007F:1F90`` → ("127.0.0.1", 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host byte order.
    words = [raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
             for i in range(0, len(raw), 4)]
    packed = b"".join(words)
    return str(ipaddress.ip_address(packed)), int(port, 16)


def listening(pids: set[int]) -> set[tuple[str, int]]:
    """Every TCP address the processes ``pids`` listen on, read from /proc (no psutil)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(_address(fields[1]))
    return found


def test_the_gateway_listens_on_loopback_only_by_default(project, smyth_run):
    run = smyth_run(project, env=PROCESS_ENV)
    port = urlsplit(run.url).port
    assert run.url == f"http://127.0.0.1:{port}"
    assert "loopback only" in run.output
    # The socket itself, not the config: the whole process tree listens on one address.
    everyone = {run.proc.pid, *run.children()}
    assert listening(everyone) == {("127.0.0.1", port)}


def test_another_host_is_bound_only_when_asked(project, smyth_run):
    run = smyth_run(project, "--host", "0.0.0.0", env=PROCESS_ENV)
    port = urlsplit(run.url).port
    assert listening({run.proc.pid, *run.children()}) == {("0.0.0.0", port)}
    assert "loopback only" not in run.output
    assert httpx.get(f"{run.url}/app", timeout=30).status_code == 200


# -- what it shows of secrets -----------------------------------------------------------

def test_redaction_rule_by_name():
    for name in ("API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "db_password",
                 "GITHUB_TOKEN", "Stripe_Secret", "GOOGLE_APPLICATION_CREDENTIALS",
                 "MYSQL_PASSWD", "AWS_ACCESS_KEY_ID"):
        assert is_secret(name), name
    for name in ("GREETING", "AWS_REGION", "PATH", "LOG_LEVEL", "DATABASE_HOST"):
        assert not is_secret(name), name
    assert redact_env({"API_KEY": "x", "GREETING": "hi"}) == {"API_KEY": MASK, "GREETING": "hi"}


def test_status_and_trace_log_never_show_secret_values(project, smyth_run):
    run = smyth_run(project, "--log-level", "trace", env=PROCESS_ENV)
    with run.client() as client:
        # The handler really gets every value: redaction is for what Smyth shows only.
        assert client.get("/app").json() == {
            "API_KEY": TABLE_SECRET, "GREETING": TABLE_PLAIN,
            "AWS_SECRET_ACCESS_KEY": DOTENV_SECRET, "DOTENV_PLAIN": DOTENV_PLAIN,
            "MY_SERVICE_TOKEN": PROCESS_SECRET, "PROCESS_PLAIN": PROCESS_PLAIN}
        response = client.get("/__/status")
    text = response.text
    status = response.json()
    # Names and non-secret values stay visible; secret values are masked.
    assert status["handlers"]["app"]["config"]["environment"] == {
        "API_KEY": MASK, "GREETING": TABLE_PLAIN}
    assert status["config"]["env_file"] == ".env"
    assert status["config"]["env_file_variables"] == {
        "AWS_SECRET_ACCESS_KEY": MASK, "DOTENV_PLAIN": DOTENV_PLAIN}
    for secret in SECRETS:
        assert secret not in text
    assert run.stop() == 0
    log = run.output
    # The log is the trace-level one, with the handler's own (debug) output in it...
    assert "ASGI [" in log and "handler debug line" in log
    assert f"plain values: {TABLE_PLAIN} {DOTENV_PLAIN} {PROCESS_PLAIN}" in log
    # ...and no secret value anywhere in it.
    for secret in SECRETS:
        assert secret not in log


def test_a_config_error_does_not_quote_an_environment_given_as_a_string(tmp_path):
    root = write_project(tmp_path / "bad", f"""
        [tool.smyth.handlers.app]
        handler_path = "app.handler"
        url_path = "/app"
        environment = "API_KEY={TABLE_SECRET}"
        """, {"app.py": APP})
    with pytest.raises(ConfigError) as caught:
        load_config(root / "pyproject.toml")
    message = str(caught.value)
    assert "'tool.smyth.handlers.app.environment': must be a table, not a string" in message
    assert TABLE_SECRET not in message
    # And through the CLI, the way a user meets it.
    result = subprocess.run([sys.executable, "-m", "smyth", "run"], cwd=root, text=True,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 2 and "must be a table, not a string" in result.stderr
    assert TABLE_SECRET not in result.stdout + result.stderr


# -- what the handler processes may do ---------------------------------------------------

def _proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_handler_processes_get_no_more_privilege_than_smyth(project, smyth_run):
    run = smyth_run(project, env=PROCESS_ENV)
    [replica] = run.status()["handlers"]["app"]["replicas"]
    handler_pid = replica["pid"]
    assert handler_pid in run.children()
    smyth_status, handler_status = _proc_status(run.proc.pid), _proc_status(handler_pid)
    assert handler_status["Uid"].split() == [str(os.getuid())] * 4  # real, effective, saved, fs
    assert handler_status["Gid"].split() == [str(os.getgid())] * 4
    for key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert handler_status[key] == smyth_status[key], key
    # Its command line, which any user of the machine can read, holds no environment value.
    cmdline = Path(f"/proc/{handler_pid}/cmdline").read_bytes().decode()
    assert "smyth.runtime.bootstrap" in cmdline and "app.handler" in cmdline
    for value in (*SECRETS, TABLE_PLAIN, DOTENV_PLAIN):
        assert value not in cmdline


# -- the compose file `smyth up` writes ---------------------------------------------------

def test_compose_file_holds_real_values_readable_by_its_owner_only_and_is_gitignored(project):
    from smyth.stack import workflow

    config = load_config(project / "pyproject.toml")
    state = project / ".smyth"
    state.mkdir()
    old = state / "compose.yaml"
    old.write_text("written by an older smyth\n")
    old.chmod(0o644)
    _, path = workflow.plan(config, workflow.UpOptions(base_image="python:3.12-slim"))
    assert path == old
    text = path.read_text()
    # It must run as it is under docker compose: the real values are in it...
    assert TABLE_SECRET in text and DOTENV_SECRET in text
    # ...so only its owner may read it, and git never sees it.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(state.glob(".compose-*"))  # no temporary file left behind
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        subprocess.run(["git", "check-ignore", "-q", ".smyth/compose.yaml"], cwd=project,
                       check=True)  # exit 0: ignored
        tracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                                 cwd=project, text=True, capture_output=True, check=True)
        assert ".smyth" not in tracked.stdout and ".env" in tracked.stdout
