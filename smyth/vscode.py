"""VS Code ``launch.json``: attach configurations for debugged replicas, and merging them
into a file that VS Code lets people write with comments and trailing commas.

The merge edits the text rather than re-serialising it, so every other entry keeps its
comments and layout; only our entries (matched by name) are replaced or appended.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from smyth.exceptions import SmythError

LAUNCH_VERSION = "0.2.0"
LOCAL_HOSTS = ("0.0.0.0", "::", "")


class LaunchJsonError(SmythError):
    """launch.json is not JSON (with comments) of the shape VS Code reads."""


def attach_configurations(name: str, replicas: list[dict[str, Any]], local_root: str
                          ) -> list[dict[str, Any]]:
    """One "attach" configuration per replica of ``name`` that has a debug port.

    A replica's status gives its port and, in Docker mode, the directory the project is
    mounted at inside its container; locally the paths are the same on both sides.
    """
    configurations = []
    debugged = [replica for replica in replicas if replica.get("debug_port")]
    for replica in debugged:
        label = name if len(replicas) == 1 else f"{name}[{replica.get('index', 0)}]"
        host = replica.get("debug_host") or "127.0.0.1"
        configurations.append({
            "name": f"Smyth: attach {label}",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": "127.0.0.1" if host in LOCAL_HOSTS else host,
                        "port": replica["debug_port"]},
            "pathMappings": [{"localRoot": local_root,
                              "remoteRoot": replica.get("debug_remote_root") or local_root}],
            "justMyCode": True,
        })
    return configurations


# -- JSON with comments, keeping track of where each value is in the text ----------------

@dataclass
class Node:
    value: Any
    start: int
    end: int
    members: dict[str, Node] = field(default_factory=dict)  # for an object
    items: list[Node] = field(default_factory=list)  # for an array
    close: int = 0  # offset of the closing bracket or brace


_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, pos: int, message: str) -> LaunchJsonError:
        line = self.text.count("\n", 0, pos) + 1
        return LaunchJsonError(f"line {line}: {message}")

    def skip(self, pos: int) -> int:
        return _SPACE.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int) -> Node:
        pos = self.skip(pos)
        char = self.text[pos:pos + 1]
        if char == "{":
            return self.container(pos, "}", self.member)
        if char == "[":
            return self.container(pos, "]", self.item)
        if char == '"':
            try:
                string, end = json.decoder.scanstring(self.text, pos + 1)  # type: ignore[attr-defined]
            except ValueError as exc:
                raise self.fail(pos, f"bad string: {exc}") from None
            return Node(string, pos, end)
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, pos):
                return Node(literal, pos, pos + len(word))
        number = _NUMBER.match(self.text, pos)
        if number:
            return Node(json.loads(number.group()), pos, number.end())
        raise self.fail(pos, f"unexpected {char!r}" if char else "unexpected end of file")

    def container(self, pos: int, closer: str, element: Any) -> Node:
        node = Node({} if closer == "}" else [], pos, pos)
        pos = self.skip(pos + 1)
        while self.text[pos:pos + 1] != closer:
            pos = self.skip(element(node, pos))
            if self.text[pos:pos + 1] == ",":
                pos = self.skip(pos + 1)  # a trailing comma before the closer is allowed
            elif self.text[pos:pos + 1] != closer:
                raise self.fail(pos, f"expected ',' or {closer!r}")
        node.close, node.end = pos, pos + 1
        return node

    def member(self, node: Node, pos: int) -> int:
        key = self.value(pos)
        if not isinstance(key.value, str):
            raise self.fail(key.start, "expected a quoted key")
        pos = self.skip(key.end)
        if self.text[pos:pos + 1] != ":":
            raise self.fail(pos, "expected ':'")
        child = self.value(pos + 1)
        node.value[key.value] = child.value
        node.members[key.value] = child
        return child.end

    def item(self, node: Node, pos: int) -> int:
        child = self.value(pos)
        node.value.append(child.value)
        node.items.append(child)
        return child.end


def parse(text: str) -> Node:
    """Parse JSON with // and /* */ comments and trailing commas, as VS Code does."""
    parser = _Parser(text)
    root = parser.value(0)
    end = parser.skip(root.end)
    if end != len(text):
        raise parser.fail(end, "unexpected text after the end")
    return root


# -- the merge ----------------------------------------------------------------------------

def merge(text: str | None, configurations: list[dict[str, Any]]) -> str:
    """``text`` with ``configurations`` in it: same-named entries replaced, others appended."""
    if text is None or _SPACE.fullmatch(text):  # no file yet, or nothing but comments
        document = {"version": LAUNCH_VERSION, "configurations": configurations}
        return json.dumps(document, indent=4) + "\n"
    root = parse(text)
    if not isinstance(root.value, dict):
        raise LaunchJsonError("the top level must be an object")
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied back to front
    array = root.members.get("configurations")
    if array is None:
        block = _indented(json.dumps(configurations, indent=4), _indent_of(text, root.start) + 4)
        edits.append(_insert_member(text, root, f'"configurations": {block}'))
    elif not isinstance(array.value, list):
        raise LaunchJsonError('"configurations" must be an array')
    else:
        indent = _indent_of(text, array.items[0].start) if array.items else \
            _indent_of(text, array.start) + 4
        by_name = {item.value.get("name"): item for item in array.items
                   if isinstance(item.value, dict)}
        appended = []
        for configuration in configurations:
            rendered = _indented(json.dumps(configuration, indent=4), indent)
            existing = by_name.get(configuration["name"])
            if existing is not None:
                edits.append((existing.start, existing.end, rendered))
            else:
                appended.append(rendered)
        if appended:
            edits.append(_append_items(text, array, appended, indent))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    parse(text)  # what we wrote must read back
    return text


def _indent_of(text: str, pos: int) -> int:
    line_start = text.rfind("\n", 0, pos) + 1
    line = text[line_start:pos]
    return len(line) - len(line.lstrip(" \t"))


def _indented(rendered: str, indent: int) -> str:
    """json.dumps output whose first line sits at ``indent`` already."""
    pad = " " * indent
    return rendered.replace("\n", "\n" + pad)


def _append_items(text: str, array: Node, items: list[str], indent: int) -> tuple[int, int, str]:
    pad = " " * indent
    body = (",\n" + pad).join(items)
    if array.items:
        last = array.items[-1].end
        return last, last, ",\n" + pad + body
    closing_pad = " " * _indent_of(text, array.close)
    return array.start + 1, array.close, "\n" + pad + body + "\n" + closing_pad


def _insert_member(text: str, root: Node, member: str) -> tuple[int, int, str]:
    pad = " " * (_indent_of(text, root.start) + 4)
    if root.members:
        last = max(node.end for node in root.members.values())
        return last, last, ",\n" + pad + member
    return root.start + 1, root.close, "\n" + pad + member + "\n"
