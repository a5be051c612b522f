"""Real frameworks behind Smyth, under each event format they support, answer as the same
app served directly: a FastAPI app wrapped by Mangum, a Flask app wrapped by apig-wsgi, and
an aws-lambda-powertools resolver app.

"Directly" is the ASGI or WSGI app called in-process over httpx. A resolver app has no
direct form, so it is held to the same routes' answers from the FastAPI app. Where AWS
itself changes an answer, the test expects the change, not the direct answer:
- API Gateway and function URLs give a response without a content type ``application/json``;
- an ALB without multi-value headers passes only the last value of a repeated query
  parameter, and only one header per name back, so a second ``Set-Cookie`` is lost unless
  the adapter varies the name's case (Mangum does; apig-wsgi and powertools do not).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import httpx
import pytest
from conftest import SmythRun, write_project

APPS = Path(__file__).parent / "framework_apps"
sys.path.insert(0, str(APPS))

import fastapi_app
import flask_app

FORMATS = {"http-api": "http-api", "rest-api": "rest-api", "function-url": "function-url",
           "alb": "alb", "alb-multi": "alb"}
API_GATEWAY_LIKE = ("http-api", "rest-api", "function-url")
REQUESTS = [
    ("GET", "/items/7?q=x", None, {}),
    ("GET", "/multi?tag=a&tag=b", None, {}),
    ("POST", "/echo", b'{"k": [1, "two", null]}', {"content-type": "application/json"}),
    ("POST", "/upload", bytes(range(256)) * 40, {"content-type": "application/octet-stream"}),
    ("GET", "/cookies", None, {}),
    ("GET", "/redirect", None, {}),
    ("GET", "/binary", None, {}),
    ("GET", "/text", None, {}),
    ("GET", "/missing", None, {}),
]
IDS = [f"{method} {path.split('?')[0]}" for method, path, _, _ in REQUESTS]


def project_toml(fmt: str, multi: bool) -> str:
    tables = ""
    for app, module in (("fastapi", "fastapi_app"), ("flask", "flask_app"),
                        ("powertools", "powertools_app")):
        tables += f"""
            [tool.smyth.handlers.{app}]
            handler_path = "{module}.handler"
            url_path = "/{app}/{{path:path}}"
            event_format = "{fmt}"
            alb_multi_value_headers = {str(multi).lower()}
            environment = {{ EVENT_FORMAT = "{fmt}" }}
            """
    return tables


@pytest.fixture(scope="module", params=list(FORMATS))
def served(request, tmp_path_factory):
    name = request.param
    root = write_project(tmp_path_factory.mktemp(name) / "p",
                         project_toml(FORMATS[name], name == "alb-multi"), {})
    for source in APPS.glob("*.py"):
        shutil.copy(source, root / source.name)
    smyth = SmythRun(root).wait_ready()
    yield name, smyth
    smyth.stop()


def seen(response: httpx.Response) -> dict:
    """What a client sees that matters: status, body and the headers that carry meaning."""
    return {"status": response.status_code, "body": response.content,
            "content-type": response.headers.get("content-type"),
            "set-cookie": response.headers.get_list("set-cookie"),
            "location": response.headers.get("location")}


def direct(app: str, method: str, path: str, body: bytes | None, headers: dict) -> dict:
    if app == "flask":
        transport = httpx.WSGITransport(app=flask_app.app)
        with httpx.Client(transport=transport, base_url="http://direct") as client:
            return seen(client.request(method, f"/flask{path}", content=body, headers=headers))

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=fastapi_app.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://direct") as client:
            return await client.request(method, f"/fastapi{path}", content=body, headers=headers)

    return seen(asyncio.run(call()))


def as_aws_serves(expected: dict, name: str, path: str, cookie_case_trick: bool) -> dict:
    """The direct answer, changed where AWS's front door changes it (see the docstring).
    ``name`` is a key of FORMATS: ``alb`` is the single-value ALB."""
    expected = dict(expected)
    if name in API_GATEWAY_LIKE and expected["content-type"] is None:
        expected["content-type"] = "application/json"
    if name == "alb":
        if path.startswith("/multi"):
            expected["body"] = expected["body"].replace(b'["a","b"]', b'["b"]')
        if not cookie_case_trick:
            expected["set-cookie"] = expected["set-cookie"][-1:]
    return expected


@pytest.mark.parametrize("method, path, body, headers", REQUESTS, ids=IDS)
def test_fastapi_with_mangum(served, method, path, body, headers):
    name, run = served
    through = seen(httpx.request(method, f"{run.url}/fastapi{path}", content=body,
                                 headers=headers, timeout=60))
    expected = direct("fastapi", method, path, body, headers)
    assert through == as_aws_serves(expected, name, path, cookie_case_trick=True)


@pytest.mark.parametrize("method, path, body, headers", REQUESTS, ids=IDS)
def test_flask_with_apig_wsgi(served, method, path, body, headers):
    name, run = served
    through = seen(httpx.request(method, f"{run.url}/flask{path}", content=body,
                                 headers=headers, timeout=60))
    expected = direct("flask", method, path, body, headers)
    assert through == as_aws_serves(expected, name, path, cookie_case_trick=False)


POWERTOOLS_REQUESTS = [r for r in REQUESTS if r[1].split("?")[0] not in ("/multi", "/missing")]


@pytest.mark.parametrize("method, path, body, headers", POWERTOOLS_REQUESTS,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in POWERTOOLS_REQUESTS])
def test_powertools_resolver(served, method, path, body, headers):
    name, run = served
    through = seen(httpx.request(method, f"{run.url}/powertools{path}", content=body,
                                 headers=headers, timeout=60))
    expected = direct("fastapi", method, path, body, headers)
    assert through == as_aws_serves(expected, name, path, cookie_case_trick=False)
