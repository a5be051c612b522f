"""``smyth invoke NAME``: call a handler through a running gateway's Lambda Invoke API.

It speaks HTTP to the gateway, so it works against ``smyth run`` and ``smyth up`` alike.
Exit status: 0 success, 1 the function failed, 2 bad input (event, config, unknown function,
a request the gateway refused), 3 the gateway could not be reached or failed itself.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from typing import IO
from urllib.parse import quote

import click
import httpx

from smyth.cli.common import CONFIG_OPTION, fail, load

TIMEOUT = 960.0  # longer than Lambda's 900 s maximum: the function's own timeout ends first


def gateway_url(url: str | None, config_path: str | None) -> str:
    if url:
        return url.rstrip("/")
    config = load(config_path)
    if config.port == 0:
        fail(f"{config.path} sets port = 0 (a free port is picked at start): pass --url "
             "with the address `smyth run` printed")
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{f'[{host}]' if ':' in host else host}:{config.port}"


def piped_stdin() -> IO[bytes] | None:
    """stdin when it is a pipe or a redirected file; a terminal or /dev/null means none."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stdin.buffer if stat.S_ISFIFO(mode) or stat.S_ISREG(mode) else None


def read_event(event_file: IO[bytes] | None) -> bytes:
    """The payload: the file (``-`` for stdin), else piped stdin, else ``{}``."""
    if event_file is None:
        event_file = piped_stdin()
    data = event_file.read() if event_file is not None else b""
    if not data.strip():
        return b"{}"
    try:
        json.loads(data)
    except ValueError as exc:
        source = getattr(event_file, "name", "stdin")
        fail(f"the event from {source} is not JSON: {exc}")
    return data


@click.command()
@click.argument("name")
@click.option("--event", "event_file", type=click.File("rb"), default=None,
              help="JSON file holding the event ('-' for stdin). Default: stdin when piped, "
                   "else {}.")
@click.option("--type", "invocation_type", default="RequestResponse", show_default=True,
              type=click.Choice(["RequestResponse", "Event", "DryRun"]),
              help="Lambda's InvocationType.")
@click.option("--tail", is_flag=True, help="Print the invocation's log (last 4 KB) to stderr.")
@click.option("--url", default=None,
              help="The gateway's address (default: host and port of [tool.smyth]).")
@CONFIG_OPTION
def invoke(name: str, event_file: IO[bytes] | None, invocation_type: str, tail: bool,
           url: str | None, config_path: str | None) -> None:
    """Invoke handler NAME with an event, as `aws lambda invoke` does, and print its result."""
    payload = read_event(event_file)
    base = gateway_url(url, config_path)
    headers = {"X-Amz-Invocation-Type": invocation_type,
               "X-Amz-Log-Type": "Tail" if tail else "None", "Content-Type": "application/json"}
    endpoint = f"{base}/2015-03-31/functions/{quote(name, safe='')}/invocations"
    try:
        response = httpx.post(endpoint, content=payload, headers=headers, timeout=TIMEOUT)
    except httpx.TransportError as exc:
        fail(f"cannot reach the gateway at {base} ({exc}). Is `smyth run` (or `smyth up`) "
             "running there? Pass --url to point elsewhere.", code=3)
    raise SystemExit(show(response, tail))


def show(response: httpx.Response, tail: bool) -> int:
    """Print what the gateway answered; return the exit status."""
    if response.status_code >= 300:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        error_type = response.headers.get("x-amzn-errortype", f"HTTP {response.status_code}")
        click.echo(f"smyth: error: {error_type}: {message}", err=True)
        return 2 if response.status_code < 500 else 3
    if tail and "x-amz-log-result" in response.headers:
        log = base64.b64decode(response.headers["x-amz-log-result"]).decode(errors="replace")
        click.echo(log, err=True, nl=not log.endswith("\n"))
    if response.status_code == 202:
        click.echo(f"Accepted: RequestId {response.headers.get('x-amzn-requestid')} runs in "
                   "the background", err=True)
        return 0
    if response.status_code == 204:
        click.echo("DryRun: the function exists and the request is valid", err=True)
        return 0
    sys.stdout.buffer.write(response.content + b"\n")
    sys.stdout.flush()
    if "x-amz-function-error" in response.headers:
        error = response.json()
        click.echo(f"smyth: the function failed: {error.get('errorType')}: "
                   f"{error.get('errorMessage')}", err=True)
        return 1
    return 0
