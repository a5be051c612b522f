"""`smyth debug NAME [--write]`: attach configurations from the running gateway, merged into a
launch.json that already holds other entries, comments and trailing commas."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
from conftest import write_project
from dap import DAPClient
from test_debug_attach import free_port_run, free_ports, handler_source, stop_and_read, stop_line

from smyth.vscode import parse

EXISTING = """// Launch configurations of this project
{
    "version": "0.2.0",
    "configurations": [
        {
            // the developer's own entry: must survive byte for byte
            "name": "Python: Current File",
            "type": "debugpy",
            "request": "launch",
            "program": "${file}", /* trailing comma below, as VS Code allows */
        },
        {"name": "Smyth: attach hello[0]", "type": "debugpy", "request": "attach",
         "connect": {"host": "127.0.0.1", "port": 1}},
    ],
}
"""
OWN_ENTRY = EXISTING[EXISTING.index("        {\n            // the developer"):
                     EXISTING.index("        {\"name\": \"Smyth")]


def smyth(project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smyth", *args], cwd=project,
                          capture_output=True, text=True, timeout=60, check=False)


def project_with_two_replicas(tmp_path, base_port: int):
    return write_project(tmp_path / "p", f"""
        [tool.smyth.handlers.hello]
        handler_path = "hello.handler"
        url_path = "/hello"
        concurrency = 2
        debug_port = {base_port}
        [tool.smyth.handlers.plain]
        handler_path = "plain.handler"
        url_path = "/plain"
        """, {"hello.py": handler_source("hello"), "plain.py": handler_source("plain")})


def test_prints_one_attach_configuration_per_replica(tmp_path, smyth_run):
    base = free_port_run(2)
    project = project_with_two_replicas(tmp_path, base)
    run = smyth_run(project, "--debug", "hello")
    result = smyth(project, "debug", "hello", "--url", run.url)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    root = str(project.resolve())
    assert document["configurations"] == [
        {"name": f"Smyth: attach hello[{index}]", "type": "debugpy", "request": "attach",
         "connect": {"host": "127.0.0.1", "port": base + index},
         "pathMappings": [{"localRoot": root, "remoteRoot": root}], "justMyCode": True}
        for index in (0, 1)
    ]


def test_write_merges_into_an_existing_launch_json_and_the_result_attaches(tmp_path, smyth_run):
    base = free_port_run(2)
    project = project_with_two_replicas(tmp_path, base)
    launch = project / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(EXISTING)
    run = smyth_run(project, "--debug", "hello")

    result = smyth(project, "debug", "hello", "--write", "--url", run.url)
    assert result.returncode == 0, result.stderr
    text = launch.read_text()
    assert text.startswith("// Launch configurations of this project\n")
    assert OWN_ENTRY in text  # comments, layout, trailing comma: untouched
    configurations = parse(text).value["configurations"]
    assert [c["name"] for c in configurations] == [
        "Python: Current File", "Smyth: attach hello[0]", "Smyth: attach hello[1]"]
    ports = [c["connect"]["port"] for c in configurations[1:]]
    assert ports == [base, base + 1]  # the stale entry was replaced, not duplicated
    assert smyth(project, "debug", "hello", "--write", "--url", run.url).returncode == 0
    assert launch.read_text() == text  # writing again changes nothing

    # What was written is what VS Code will send: attach with it and stop in the handler.
    entry = configurations[1]
    path = project / "hello.py"
    client = DAPClient(entry["connect"]["host"], entry["connect"]["port"])
    try:
        client.attach({str(path): [stop_line(path)]}, path_mappings=entry["pathMappings"])
        with ThreadPoolExecutor(2) as pool:
            # Round robin: two requests reach both replicas; replica 0 stops.
            responses = [pool.submit(httpx.get, f"{run.url}/hello", timeout=60)
                         for _ in range(2)]
            thread_id, local = stop_and_read(client, path)
            assert local["name"] == "'hello'"
            client.resume(thread_id)
            assert [r.result(30).status_code for r in responses] == [200, 200]
    finally:
        client.disconnect()
    assert run.stop() == 0


def test_errors_say_what_to_do(tmp_path, smyth_run):
    project = project_with_two_replicas(tmp_path, free_port_run(2))
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    result = smyth(project, "debug", "hello", "--url", dead)
    assert result.returncode == 1
    assert f"no Smyth gateway answers at {dead}" in result.stderr
    assert "smyth run --debug hello" in result.stderr

    run = smyth_run(project)  # nothing debugged
    result = smyth(project, "debug", "hello", "--url", run.url)
    assert result.returncode == 1
    assert "handler 'hello' is not running under debugpy" in result.stderr
    result = smyth(project, "debug", "nope", "--url", run.url)
    assert result.returncode == 2
    assert "serves no handler 'nope'" in result.stderr

    launch = project / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text('{"configurations": [}')
    run.stop()
    run = smyth_run(project, "--debug", "hello")
    result = smyth(project, "debug", "hello", "--write", "--url", run.url)
    assert result.returncode == 2
    assert f"{launch}: line 1: unexpected '}}'" in result.stderr
    assert launch.read_text() == '{"configurations": [}'  # a broken file is left alone
