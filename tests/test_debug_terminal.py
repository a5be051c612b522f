"""breakpoint(), pdb and ipdb in the terminal of `smyth run`: a real pseudo-terminal, a real
shell in it, and keys typed as a developer types them."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pexpect
import pytest
from conftest import BANNER, descendants, wait_for, write_project

PROMPT = "SHELL-READY$ "
PDB = r"\(Pdb\) "

BREAKPOINT_HANDLER = '''
def handler(event, context):
    secret = "swordfish-{name}"
    breakpoint()
    return {{"statusCode": 200, "body": secret}}
'''


class Shell:
    """An interactive /bin/sh in a pseudo-terminal, the way a developer runs smyth."""

    def __init__(self, cwd: str) -> None:
        env = {**os.environ, "PS1": PROMPT, "TERM": "xterm", "PYTHONUNBUFFERED": "1"}
        self.child = pexpect.spawn("/bin/sh", ["-i"], cwd=cwd, env=env, encoding="utf-8",
                                   timeout=30, dimensions=(40, 200))
        self.prompt()

    def prompt(self, timeout: float = 30) -> str:
        self.child.expect_exact(PROMPT, timeout=timeout)
        return self.child.before

    def run(self, command: str) -> str:
        self.child.sendline(command)
        return self.prompt()

    def stty(self) -> str:
        return self.run("stty -g").splitlines()[-1].strip()

    def smyth_run(self, *args: str) -> str:
        """Start smyth run in the foreground; return the gateway's URL."""
        self.child.sendline(" ".join([sys.executable, "-m", "smyth", "run", "--port", "0", *args]))
        self.child.expect(BANNER)
        url = self.child.match.group(1)
        self.child.expect("Started server process")
        return url

    def exit_status(self) -> int:
        return int(self.run("echo EXIT=$?").split("EXIT=")[-1].split()[0])

    def close(self) -> None:
        # A failed test may leave smyth run in the foreground: end it and its handler
        # processes too, not only the shell (SIGHUP may be ignored, as under nohup).
        leftovers = descendants(self.child.pid) if self.child.isalive() else set()
        self.child.close(force=True)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def shell(tmp_path) -> Iterator[Shell]:
    shells: list[Shell] = []

    def start(cwd) -> Shell:
        shells.append(Shell(str(cwd)))
        return shells[-1]

    yield start  # type: ignore[misc]
    for opened in shells:
        opened.close()


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def get(pool: ThreadPoolExecutor, url: str) -> Future:
    return pool.submit(httpx.get, url, timeout=60)


def project_with(tmp_path, handlers: dict[str, str], timeout: int = 1):
    config = "".join(f"""
        [tool.smyth.handlers.{name}]
        handler_path = "{name}.handler"
        url_path = "/{name}"
        timeout = {timeout}
        """ for name in handlers)
    return write_project(tmp_path / "p", config,
                         {f"{name}.py": source for name, source in handlers.items()})


def test_breakpoint_opens_pdb_in_the_terminal_then_ctrl_c_exits_cleanly(tmp_path, shell, pool):
    project = project_with(tmp_path, {"hello": BREAKPOINT_HANDLER.format(name="hello")})
    sh = shell(project)
    before = sh.stty()
    url = sh.smyth_run()
    response = get(pool, f"{url}/hello")
    # The gateway's line about the stopped clock comes whole, before the prompt: it once
    # landed in the middle of it ("(Pdb" … line … ") ").
    sh.child.expect("its timeout is suspended for this invocation\r\n")
    sh.child.expect(PDB)
    sh.child.sendline("p secret")
    sh.child.expect_exact("'swordfish-hello'")
    sh.child.expect(PDB)
    assert not response.done()
    sh.child.sendline("c")
    result = response.result(30)
    assert (result.status_code, result.text) == (200, "swordfish-hello")
    sh.child.expect("GET /hello")
    sh.child.sendintr()  # Ctrl-C, to the whole foreground process group
    shutdown = sh.prompt()
    assert "(Pdb)" not in shutdown  # the Ctrl-C was the gateway's, not the debugger's
    assert "Finished server process" in shutdown
    assert sh.exit_status() == 0
    assert sh.stty() == before


def test_breakpoint_at_import_time_holds_the_start_until_continued(tmp_path, shell, pool):
    source = 'NAME = "at-import"\nbreakpoint()\n\n\ndef handler(event, context):\n' \
             '    return {"statusCode": 200, "body": NAME}\n'
    project = project_with(tmp_path, {"early": source})
    sh = shell(project)
    sh.child.sendline(f"{sys.executable} -m smyth run --port 0")
    # The init's clock stops, and the line saying so comes before the prompt, not inside it.
    sh.child.expect("during init; its init timeout is suspended\r\n")
    sh.child.expect(PDB)
    sh.child.sendline("p NAME")
    sh.child.expect_exact("'at-import'")
    sh.child.sendline("c")
    sh.child.expect(BANNER)  # the gateway serves once the import has finished
    url = sh.child.match.group(1)
    sh.child.expect("Started server process")
    result = get(pool, f"{url}/early").result(30)
    assert (result.status_code, result.text) == (200, "at-import")
    sh.child.sendintr()
    sh.prompt()
    assert sh.exit_status() == 0


def test_timeout_does_not_fire_while_pdb_holds_the_invocation(tmp_path, shell, pool):
    project = project_with(tmp_path, {"hello": BREAKPOINT_HANDLER.format(name="hello")})
    sh = shell(project)
    url = sh.smyth_run()
    response = get(pool, f"{url}/hello")
    sh.child.expect("its timeout is suspended")
    sh.child.expect(PDB)
    # Stay at the prompt past the 1 s timeout: the clock must be stopped.
    time.sleep(1.5)
    sh.child.sendline("c")
    result = response.result(30)
    assert result.status_code == 200, result.text
    sh.child.sendintr()
    sh.prompt()
    assert "Task timed out" not in sh.child.before
    assert sh.exit_status() == 0


def test_ctrl_c_at_the_debugger_prompt_still_leaves_the_terminal_sane(tmp_path, shell, pool):
    project = project_with(tmp_path, {"hello": BREAKPOINT_HANDLER.format(name="hello")})
    sh = shell(project)
    before = sh.stty()
    url = sh.smyth_run()
    response = get(pool, f"{url}/hello")
    sh.child.expect(PDB)
    # readline has the terminal in its own mode while it waits for a command.
    sh.child.sendintr()
    shutdown = sh.prompt(timeout=60)
    assert sh.exit_status() == 0
    assert sh.stty() == before
    wait_for(response.done, 30, message="the stopped request to be let go")
    # Ended at once with Lambda's error for a killed runtime, not cut off after the grace.
    assert response.result().status_code == 500
    assert "ending the invocation held by the debugger" in shutdown


def test_handlers_take_turns_at_the_terminal(tmp_path, shell, pool):
    project = project_with(tmp_path, {name: BREAKPOINT_HANDLER.format(name=name)
                                      for name in ("left", "right")})
    sh = shell(project)
    url = sh.smyth_run()
    transcript = io.StringIO()
    sh.child.logfile_read = transcript
    responses = {name: get(pool, f"{url}/{name}") for name in ("left", "right")}
    waiting = "waiting for the terminal, which another handler's debugger is using"
    seen = []
    for turn in range(2):
        sh.child.expect(PDB)
        sh.child.sendline("p secret")
        sh.child.expect(r"'swordfish-(left|right)'")
        seen.append(sh.child.match.group(1))
        sh.child.expect(PDB)
        if turn == 0 and waiting not in transcript.getvalue():
            sh.child.expect_exact(waiting)  # the other one stands at its breakpoint too
        assert not responses[seen[-1]].done()
        sh.child.sendline("c")
        assert responses[seen[-1]].result(30).text == f"swordfish-{seen[-1]}"
    assert sorted(seen) == ["left", "right"]
    sh.child.sendintr()
    sh.prompt()
    assert sh.exit_status() == 0


def test_pdb_set_trace_and_ipdb_set_trace(tmp_path, shell, pool):
    # Imported at init, as a developer would: importing IPython takes longer than a timeout.
    project = project_with(tmp_path, {
        "plain": "import pdb\n" + BREAKPOINT_HANDLER.format(name="plain").replace(
            "breakpoint()", "pdb.set_trace()"),
        "fancy": "import ipdb\n" + BREAKPOINT_HANDLER.format(name="fancy").replace(
            "breakpoint()", "ipdb.set_trace()"),
    })
    sh = shell(project)
    url = sh.smyth_run()
    for name, prompt in (("plain", PDB), ("fancy", r"ipdb>")):  # IPython 9 redraws after ">"
        response = get(pool, f"{url}/{name}")
        sh.child.expect(prompt)
        sh.child.sendline("p secret")
        sh.child.expect_exact(f"'swordfish-{name}'")
        sh.child.expect(prompt)
        sh.child.sendline("c")
        assert response.result(30).text == f"swordfish-{name}"
    sh.child.sendintr()
    sh.prompt()
    assert sh.exit_status() == 0


def test_with_debug_but_no_ide_attached_breakpoint_opens_the_terminal_debugger(tmp_path, shell,
                                                                              pool):
    project = project_with(tmp_path, {"hello": BREAKPOINT_HANDLER.format(name="hello")})
    sh = shell(project)
    url = sh.smyth_run("--debug", "hello")
    response = get(pool, f"{url}/hello")
    sh.child.expect(PDB)
    sh.child.sendline("p secret")
    sh.child.expect_exact("'swordfish-hello'")
    sh.child.expect(PDB)
    sh.child.sendline("c")
    assert response.result(30).text == "swordfish-hello"
    sh.child.sendintr()
    sh.prompt()
    assert sh.exit_status() == 0


def test_without_a_terminal_a_breakpoint_is_skipped_with_a_hint(tmp_path):
    project = project_with(tmp_path, {"hello": BREAKPOINT_HANDLER.format(name="hello")})
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "smyth", "run", "--port", "0"],
                                cwd=project, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = wait_for(lambda: (m := BANNER.search(log_path.read_text())) and m.group(1),
                       30, message="smyth run's banner")
        result = httpx.get(f"{url}/hello", timeout=30)
        assert (result.status_code, result.text) == (200, "swordfish-hello")
    finally:
        proc.send_signal(2)
        assert proc.wait(30) == 0
    output = log_path.read_text()
    assert re.search(r"breakpoint at hello\.py:4 skipped: smyth's standard input is not a "
                     r"terminal\. To debug this handler, run it with --debug hello and attach "
                     r"an IDE \(smyth debug hello\)", output), output
