"""AWS SAM's published sample events, rendered, and a key-by-key comparison with ours."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from smyth.events import HttpRequest

SAMPLES = Path(__file__).parent / "samples"
# Maps whose keys are data (header names, parameters), not part of the event's schema.
DATA_MAPS = {"headers", "multiValueHeaders", "queryStringParameters",
             "multiValueQueryStringParameters", "pathParameters", "stageVariables", "claims"}


def sam_event(service: str, event: str) -> dict[str, Any]:
    """A sample event as `sam local generate-event SERVICE EVENT` renders it by default."""
    spec = json.loads((SAMPLES / "event-mapping.json").read_text())[service][event]
    text = (SAMPLES / f"{spec['filename']}.json").read_text()
    for tag, props in spec["tags"].items():
        name, value = tag.replace("-", "_"), props.get("default", "")
        if props.get("encoding") == "base64":
            value = base64.b64encode(value.encode()).decode()
        if props.get("type") == "dict":
            text = text.replace(f'"{{{{{{{name}}}}}}}"', value)
        else:
            text = text.replace(f"{{{{{{{name}}}}}}}", json.dumps(value)[1:-1])
    assert "{{{" not in text, "a placeholder was left unrendered"
    return json.loads(text)


def shape_differences(ours: Any, sample: Any, *, may_lack: set[str] = frozenset(),
                      may_add: set[str] = frozenset(), nullable: set[str] = frozenset(),
                      path: str = "") -> list[str]:
    """Where ``ours`` differs in shape from ``sample``: keys missing or extra at any depth,
    and values of another JSON type. Paths are dotted (``requestContext.http.method``)."""
    differences: list[str] = []
    if path in nullable and (ours is None or sample is None):
        return differences
    if isinstance(sample, dict) and isinstance(ours, dict):
        name = path.rsplit(".", 1)[-1]
        if name in DATA_MAPS:  # compare the value types only
            kinds = {type(v).__name__ for v in ours.values()}
            sample_kinds = {type(v).__name__ for v in sample.values()}
            if ours and sample and kinds != sample_kinds:
                differences.append(f"{path}: values are {kinds}, AWS has {sample_kinds}")
            return differences
        for key in sorted(set(sample) | set(ours)):
            sub = f"{path}.{key}" if path else key
            if key not in ours:
                if sub not in may_lack:
                    differences.append(f"{sub}: missing")
            elif key not in sample:
                if sub not in may_add:
                    differences.append(f"{sub}: not in AWS's sample")
            else:
                differences += shape_differences(ours[key], sample[key], may_lack=may_lack,
                                                 may_add=may_add, nullable=nullable, path=sub)
        return differences
    if type(ours) is not type(sample):
        differences.append(f"{path}: {type(ours).__name__}, AWS has {type(sample).__name__}")
    return differences


def http_request(method: str = "GET", path: str = "/items/7", query: str = "",
                 headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                 route: str = "/items/{id}", params: dict[str, str] | None = None,
                 raw_path: str | None = None) -> HttpRequest:
    return HttpRequest(
        method=method, path=path, query_string=query,
        headers=[("host", "127.0.0.1:8080"), ("user-agent", "tests/1.0"), *(headers or [])],
        body=body, source_ip="192.0.2.1", scheme="http", server_port=8080,
        route_template=route, path_params=params if params is not None else {"id": "7"},
        raw_path=raw_path)


def result_json(body: Any) -> bytes:
    return json.dumps(body).encode()
