"""Bad input (issue 7, item 4): whatever a client or a handler sends, the gateway answers a
4xx, drops the connection cleanly, or answers the integration's own documented error, and
it goes on serving. A 5xx of the gateway's own (an exception in Smyth: Starlette's plain
``500 Internal Server Error``) never happens, and the log never holds a gateway traceback.

One real ``smyth run`` serves every test: an echo handler per event format (and one that
returns its Invoke API payload as it came). Requests go over raw sockets, so that methods,
targets and header bytes reach the HTTP server as generated, where httpx would refuse them.
Examples per property: ``stress_size(150, 2000)`` (SMYTH_STRESS=full for the larger run);
the short run is derandomized so that CI sees the same inputs every time.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import STRESS_FULL, SmythRun, stress_size, wait_for, write_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = stress_size(150, 2000)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not STRESS_FULL,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
TIMEOUT = 30.0  # bounds every socket read: a hang fails the test instead of stalling it

# Route prefixes: a fixed first segment, so that every generated tail matches the route.
PREFIXES = {"http": "/http/t/", "rest": "/rest/t/", "furl": "/furl/", "alb": "/alb/"}
FORMATS = {"http": "http-api", "rest": "rest-api", "furl": "function-url", "alb": "alb"}
ALB_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
           b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
# The 5xx answers each AWS front door gives on its own (aws-contracts.md §3-5): a function
# error or malformed result, an invoke Lambda refuses, an integration timeout.
INTEGRATION_ERRORS = {
    "http": {(500, b'{"message":"Internal Server Error"}'),
             (503, b'{"message":"Service Unavailable"}')},
    "rest": {(502, b'{"message": "Internal server error"}'),
             (500, b'{"message": "Internal server error"}'),
             (504, b'{"message": "Endpoint request timed out"}')},
    "furl": {(502, b"Internal Server Error")},
    "alb": {(502, ALB_502)},
}

APP = r'''
import json, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))

# Results no proxy integration can send as they are; the gateway must answer each with
# the format's documented error (or pass it on where the format allows it), never crash.
ODD = {
    "status-superscript": {"statusCode": "²"},
    "status-text": {"statusCode": "two hundred"},
    "status-bool": {"statusCode": True},
    "status-float": {"statusCode": 200.5},
    "status-100": {"statusCode": 100, "body": "x"},
    "status-101": {"statusCode": 101, "headers": {"upgrade": "h2c"}, "body": "x"},
    "status-204-body": {"statusCode": 204, "body": "not sent"},
    "status-304-body": {"statusCode": 304, "body": "not sent"},
    "status-599": {"statusCode": 599, "body": "the handler's own"},
    "header-crlf": {"statusCode": 200, "headers": {"x-bad": "a\r\nInjected: 1"}},
    "header-lf": {"statusCode": 200, "headers": {"x-bad": "a\nInjected: 1"}},
    "header-nul": {"statusCode": 200, "headers": {"x-bad": "a\u0000b"}},
    "header-euro": {"statusCode": 200, "headers": {"x-euro": "5 €"}, "body": "x"},
    "header-latin1": {"statusCode": 200, "headers": {"x-name": "José"}, "body": "x"},
    "header-surrogate": {"statusCode": 200, "headers": {"x-s": "\ud800"}},
    "name-empty": {"statusCode": 200, "headers": {"": "v"}},
    "name-space": {"statusCode": 200, "headers": {"bad name": "v"}},
    "name-colon": {"statusCode": 200, "headers": {"a:b": "v"}},
    "name-unicode": {"statusCode": 200, "headers": {"x-€": "v"}},
    "header-object": {"statusCode": 200, "headers": {"x": {"nested": 1}}},
    "header-huge": {"statusCode": 200, "headers": {"x-big": "a" * 100_000}, "body": "x"},
    "framing": {"statusCode": 200, "headers": {"content-length": "1",
                                               "transfer-encoding": "chunked"}, "body": "xyz"},
    "multi-not-list": {"statusCode": 200, "multiValueHeaders": {"x": "v"}},
    "multi-content-length": {"statusCode": 200, "multiValueHeaders": {"Content-Length": ["1"]},
                             "body": "xyz"},
    "cookies-not-list": {"statusCode": 200, "cookies": "a=1"},
    "cookies-objects": {"statusCode": 200, "cookies": [{"a": 1}], "body": "x"},
    "base64-invalid": {"statusCode": 200, "isBase64Encoded": True, "body": "!!!"},
    "base64-binary": {"statusCode": 200, "isBase64Encoded": True, "body": "AAEC/w==",
                      "headers": {"content-type": "application/octet-stream"},
                      "multiValueHeaders": {"x-m": ["1", "2"]}},
    "body-object": {"statusCode": 200, "body": {"not": "a string"}},
    "body-number": {"statusCode": 200, "body": 42},
    "body-surrogate": {"statusCode": 200, "body": "\ud800"},
    "unknown-key": {"statusCode": 200, "bodyy": "typo"},
    "string-surrogate": "\ud800",
    "string": "just a string",
    "null": None,
    "list": [1, 2],
    "empty": {},
    "deep": "DEEP",
}


def deep():
    sys.setrecursionlimit(100_000)  # the handler can write JSON deeper than a parser reads
    value = []
    for _ in range(20_000):
        value = [value]
    return {"statusCode": 200, "body": "x", "nested": value}


def hold(tag):
    """Block until the test releases this invocation; leave a mark on the way in and out."""
    open(os.path.join(HERE, f"started-{tag}"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(HERE, f"release-{tag}")):
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.01)
    open(os.path.join(HERE, f"done-{tag}"), "w").close()
    return {"statusCode": 200, "body": "held"}


def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    parts = path.split("/")
    if "__odd__" in parts:
        value = ODD[parts[-1]]
        return deep() if value == "DEEP" else value
    if "__big__" in parts:
        return {"statusCode": 200, "headers": {"content-type": "text/plain"},
                "body": "x" * int(parts[-1])}
    if "__hold__" in parts:
        return hold(parts[-1])
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(event)}


def plain(event, context):
    return event
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tables = "".join(f"""
        [tool.smyth.handlers.{name}]
        handler_path = "app.handler"
        url_path = "{PREFIXES[name].replace('/t/', '/{thing}/')}{{rest:path}}"
        event_format = "{fmt}"
        """ for name, fmt in FORMATS.items())
    tables += """
        [tool.smyth.handlers.plain]
        handler_path = "app.plain"
        url_path = "/plain"
        """
    root = write_project(tmp_path_factory.mktemp("bad-input") / "p", tables, {"app.py": APP})
    smyth = SmythRun(root).wait_ready()
    yield smyth
    smyth.stop()


@pytest.fixture(autouse=True)
def log_start(run):
    run.log_start = len(run.output)  # where this test's part of the shared log begins


# -- talking raw HTTP -----------------------------------------------------------------

@dataclass
class Reply:
    status: int | None  # None: the connection closed without a response
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def address(run: SmythRun) -> tuple[str, int]:
    host, port = run.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(run: SmythRun) -> socket.socket:
    return socket.create_connection(address(run), timeout=TIMEOUT)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse(data: bytes, head: bool = False) -> Reply:
    if not data:
        return Reply(None)
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:]]
    reply = Reply(status, headers, body)  # type: ignore[arg-type]
    length = reply.header(b"content-length")
    if length is not None and not head:
        assert len(body) == int(length), f"body of {len(body)} bytes, announced {length}"
    if reply.header(b"transfer-encoding") is not None:
        assert length is None, "a response with both content-length and transfer-encoding"
    return reply


def exchange(run: SmythRun, request: bytes, head: bool = False) -> Reply:
    """Send one request (``Connection: close``) and read the whole answer. A reset while
    sending or reading counts as a dropped connection, which the caller judges."""
    with connect(run) as sock:
        try:
            sock.sendall(request)  # no half-close: uvicorn takes EOF for a client gone
            return parse(read_all(sock), head)
        except (ConnectionResetError, BrokenPipeError):
            return Reply(None)


def request_bytes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                  body: bytes) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: gateway.test"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: %d" % len(body), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def gateway_tracebacks(run: SmythRun) -> list[str]:
    """Tracebacks the gateway logged during this test (handler output is prefixed
    ``name | ``), so that each test answers for its own."""
    log = run.output[run.log_start:]
    return [line for line in log.splitlines()
            if line.startswith("Traceback") or "Exception in ASGI application" in line]


def assert_healthy(run: SmythRun, name: str = "rest") -> None:
    assert run.proc.poll() is None, f"smyth run exited:\n{run.output[-3000:]}"
    assert not gateway_tracebacks(run), run.output[run.log_start:][-6000:]
    # The next request to the same concurrency-1 handler is served: no stuck replica.
    response = httpx.get(f"{run.url}{PREFIXES[name]}after", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert httpx.get(f"{run.url}/__/status", timeout=TIMEOUT).status_code == 200


def assert_not_the_gateways_own_5xx(name: str, reply: Reply) -> None:
    if reply.status is not None and reply.status >= 500:
        assert (reply.status, reply.body) in INTEGRATION_ERRORS[name], \
            f"{reply.status} {reply.body[:300]!r} is not {FORMATS[name]}'s documented answer"


# -- strategies -------------------------------------------------------------------------

STANDARD_METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"]
TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
tokens = st.text(TCHAR, min_size=1, max_size=16).map(str.encode)
methods = st.one_of(st.sampled_from(STANDARD_METHODS), tokens,
                    st.sampled_from([b"M-SEARCH", b"PROPFIND", b"CONNECT", b"TRACE", b"PRI"]))
# Characters a request target may carry as they are (RFC 3986 pchar, minus '%').
SAFE = "abcXYZ019-._~!$&'()*+,;=:@"


def percent(data: bytes) -> bytes:
    return b"".join(b"%%%02X" % byte for byte in data)


segment = st.one_of(
    st.text(SAFE, max_size=8).map(str.encode),
    st.binary(max_size=6).map(percent),  # any byte, invalid UTF-8 included
    st.text(max_size=4).map(lambda t: urllib.parse.quote(t, safe="").encode()),  # unicode
    st.sampled_from([b"..", b".", b"", b"%2F", b"%2e%2e", b"%", b"%zz", b"%f", b"%00",
                     b"%C0%AF", b"%ED%A0%80", b"__odd__x"]),
)
tails = st.lists(segment, max_size=6).map(b"/".join)
query_part = st.one_of(
    st.text(SAFE.replace("&", "").replace("=", ""), max_size=6).map(str.encode),
    st.binary(max_size=4).map(percent),
    st.sampled_from([b"", b"%", b"%zz", b"%f", b"%FF", b"+", b"%26", b"%3D", b"a%00b"]),
)
query_pairs = st.tuples(query_part, st.sampled_from([b"=", b"", b"=="]), query_part).map(
    b"".join)
queries = st.one_of(st.none(), st.lists(query_pairs, max_size=6).map(b"&".join),
                    st.just(b"&&"), st.just(b"a=1&a=2&a"))
# Header values: visible ASCII, spaces and tabs inside, and obs-text (latin-1 bytes).
VISIBLE = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
values = st.lists(st.sampled_from(list(VISIBLE) + [0x20, 0x09]), max_size=40).map(
    lambda bs: bytes(bs).strip(b" \t"))
COMMON = [b"x-a", b"X-A", b"accept", b"user-agent", b"content-type", b"x-forwarded-for",
          b"x-amzn-trace-id", b"host", b"cookie", b"Cookie", b"authorization", b"origin"]
names = st.one_of(st.sampled_from(COMMON), tokens).filter(
    lambda n: n.lower() not in (b"content-length", b"transfer-encoding", b"connection",
                                b"expect", b"upgrade", b"te", b"trailer", b"keep-alive",
                                b"x-probe"))
cookie_values = st.lists(
    st.tuples(st.text("abc=;, \t\"\\é", max_size=6), st.text("xyz=;, \"é", max_size=6))
    .map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=5).map(
    lambda cs: "; ".join(cs).encode("latin-1").strip(b" \t"))
headers = st.lists(st.one_of(st.tuples(names, values),
                             st.tuples(st.just(b"Cookie"), cookie_values)), max_size=12)
CONTENT_TYPES = [b"text/plain", b"text/plain; charset=latin-1", b"application/json",
                 b"application/octet-stream", b"image/png", b"multipart/form-data; boundary=x",
                 b"application/x-www-form-urlencoded", b";;;", b"text/"]
bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=200).map(str.encode),
    st.sampled_from([b"", b"\xff\xfe\xfd", b"\xc0\xaf", b"\xed\xa0\x80", b"{\"a\": \"\xe9\"}"]),
)
content_types = st.one_of(st.none(), st.sampled_from(CONTENT_TYPES))


def is_plain_ascii(data: bytes) -> bool:
    return all(0x21 <= byte < 0x7F for byte in data) and b"#" not in data


def event_body(event: dict) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event["isBase64Encoded"] else body.encode("utf-8")


# -- properties -------------------------------------------------------------------------

@pytest.mark.parametrize("name", FORMATS)
def test_arbitrary_requests_never_get_a_gateway_5xx(run, report, name):
    counts = {"inputs": 0, "echoed": 0, "4xx": 0, "dropped": 0}

    @SETTINGS
    @given(method=methods, tail=tails, query=queries, extra=headers, body=bodies,
           content_type=content_types, probe=values)
    def check(method, tail, query, extra, body, content_type, probe):
        counts["inputs"] += 1
        target = PREFIXES[name].encode() + tail + (b"?" + query if query is not None else b"")
        sent = [*extra, (b"X-Probe", probe)]
        if content_type is not None:
            sent.append((b"Content-Type", content_type))
        reply = exchange(run, request_bytes(method, target, sent, body), head=method == b"HEAD")
        assert_not_the_gateways_own_5xx(name, reply)
        if reply.status is None:
            counts["dropped"] += 1
        elif 400 <= reply.status < 500:
            counts["4xx"] += 1
        well_formed = method in STANDARD_METHODS and is_plain_ascii(target) and \
            b"%0A" not in target.upper() and b"%0D" not in target.upper()
        if not well_formed:
            assert reply.status is None or reply.status < 500 or reply.status == 599
            return
        # A request any HTTP server takes reaches the handler, and its event is faithful.
        assert reply.status == 200, (reply.status, reply.body[:300])
        counts["echoed"] += 1
        if method == b"HEAD":
            return
        event = json.loads(reply.body)
        assert event.get("httpMethod", event.get("requestContext", {}).get("http", {})
                         .get("method")) == method.decode()
        assert event_body(event) == body
        if name == "http":
            assert event["rawQueryString"] == (query or b"").decode("latin-1")
        if name in ("http", "rest"):
            header = {"http": lambda e: e["headers"]["x-probe"],
                      "rest": lambda e: e["multiValueHeaders"]["x-probe"][-1]}[name](event)
            assert header == probe.decode("latin-1")

    check()
    assert_healthy(run, name)
    report(f"bad input, {FORMATS[name]} requests: {counts['inputs']} inputs "
           f"({counts['echoed']} echoed, {counts['4xx']} 4xx, {counts['dropped']} dropped), "
           "0 failures")


ODD_CASES = re.findall(r'^    "([a-z0-9-]+)": ', APP, re.MULTILINE)


@pytest.mark.parametrize("name", FORMATS)
def test_odd_handler_results_get_the_integrations_answer(run, report, name):
    """Each odd result answers as the integration documents: passed on when the format
    allows it, else the format's function error; never the gateway's own 500, never a
    header split by a CR/LF, never a body on a 204/304 that desynchronises keep-alive."""
    for case in ODD_CASES:
        target = f"{PREFIXES[name]}__odd__/{case}".encode()
        # Two requests on one connection: the second proves the first left it usable.
        with connect(run) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
                         b"GET " + PREFIXES[name].encode() + b"after HTTP/1.1\r\n"
                         b"Host: gateway.test\r\nConnection: close\r\n\r\n")
            data = read_all(sock)
        first, second = split_pipelined(data)
        reply = parse(first)
        assert reply.status is not None, case
        if reply.status != 599:  # the handler's own choice, passed on
            assert_not_the_gateways_own_5xx(name, reply)
        assert b"injected" not in first.lower(), case
        if reply.status in (204, 304):
            assert reply.body == b"", case
        assert parse(second).status == 200, (case, second[:300])
    assert_healthy(run, name)
    report(f"bad input, {FORMATS[name]} odd handler results: {len(ODD_CASES)} cases, "
           "0 failures")


def split_pipelined(data: bytes) -> tuple[bytes, bytes]:
    """Two responses read from one connection, split on the first one's framing."""
    head, _, rest = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if match:
        size = int(match.group(1))
        return head + b"\r\n\r\n" + rest[:size], rest[size:]
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        end = rest.index(b"0\r\n\r\n") + 5
        return head + b"\r\n\r\n" + rest[:end], rest[end:]
    return head + b"\r\n\r\n", rest  # no body (204, 304)


# -- the Invoke API -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
payloads = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=256),
    st.sampled_from([b"", b"  ", b"{", b"NaN", b"[Infinity]", b"{'a': 1}", b"\xff\xfe",
                     b"[" * 5000 + b"]" * 5000, b"\"\xed\xa0\x80\"", b"{\"a\":1}garbage"]),
)
KNOWN = {"plain": None, "plain:$LATEST": "$LATEST", "plain:live": "live",
         "arn:aws:lambda:us-east-1:123456789012:function:plain": None,
         "123456789012:function:plain:7": "7"}
function_names = st.one_of(
    st.sampled_from([*KNOWN, "function", "nope", "plain:bad/q", "plain:live\n"]),
    st.text(max_size=12))
invocation_types = st.one_of(st.none(), st.sampled_from(["RequestResponse", "DryRun", "Event"]),
                             st.text(TCHAR, max_size=10))
log_types = st.one_of(st.none(), st.sampled_from(["None", "Tail"]), st.text(TCHAR, max_size=6))
qualifiers = st.one_of(st.none(), st.sampled_from(["$LATEST", "live", "7", ""]),
                       st.text(max_size=6))
ERROR_TYPES = {"InvalidRequestContentException", "InvalidParameterValueException",
               "ValidationException", "ResourceNotFoundException"}
SUCCESS = {None: 200, "RequestResponse": 200, "Event": 202, "DryRun": 204}


def strict_json(data: bytes) -> bool:
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        json.loads(data, parse_constant=refuse)
    except (ValueError, RecursionError):
        return False
    return True


def test_malformed_invoke_api_requests_get_aws_errors(run, report):
    counts = {"inputs": 0, "invoked": 0, "errors": 0}

    @SETTINGS
    @given(payload=payloads, function=function_names, kind=invocation_types, log=log_types,
           qualifier=qualifiers)
    def check(payload, function, kind, log, qualifier):
        counts["inputs"] += 1
        target = b"/2015-03-31/functions/" + urllib.parse.quote(function, safe=":$").encode() \
            + b"/invocations"
        if qualifier is not None:
            target += b"?Qualifier=" + urllib.parse.quote(qualifier, safe="$").encode()
        sent = [(b"X-Amz-Invocation-Type", kind.encode())] if kind is not None else []
        sent += [(b"X-Amz-Log-Type", log.encode())] if log is not None else []
        reply = exchange(run, request_bytes(b"POST", target, sent, payload))
        assert reply.status is not None and reply.status < 500, (reply.status, reply.body)
        if function == "" or "/" in function:
            # Not an Invoke API path at all: the router's 404.
            assert reply.status == 404, (reply.status, reply.body)
            return
        derived = KNOWN.get(function)
        valid = (function in KNOWN and kind in SUCCESS and log in (None, "None", "Tail")
                 and (qualifier is None or re.fullmatch(r"[A-Za-z0-9$_-]{0,128}", qualifier))
                 and not (derived and qualifier and derived != qualifier)
                 and (not payload.strip() or strict_json(payload)))
        if not valid:
            counts["errors"] += 1
            # The shape the SDKs parse into their exceptions (aws-contracts.md §6).
            assert reply.status in (400, 404), (reply.status, reply.body)
            error = json.loads(reply.body)
            assert set(error) >= {"Type", "message"}, error
            assert reply.header(b"x-amzn-errortype").decode() in ERROR_TYPES, reply.headers
            return
        counts["invoked"] += 1
        assert reply.status == SUCCESS[kind], (reply.status, reply.body[:300])
        if reply.status == 200:
            assert reply.header(b"x-amz-function-error") is None, reply.body
            expected = json.loads(payload) if payload.strip() else {}
            assert json.loads(reply.body) == expected

    check()
    assert_healthy(run)
    report(f"bad input, Invoke API: {counts['inputs']} inputs ({counts['invoked']} invoked, "
           f"{counts['errors']} AWS-shaped 4xx), 0 failures")


# -- sizes and broken connections ---------------------------------------------------------

# Each front door's answer to too many header bytes: API Gateway's 10,240-byte quota on the
# request line and headers, ALB's 64 KB (a 400 page), and the same 64 KB for function URLs.
HEADER_LIMITS = {"http": 10240, "rest": 10240, "furl": 65536, "alb": 65536}
HEADERS_TOO_LARGE = {
    "http": (431, b'{"message": "Request Header Fields Too Large"}'),
    "rest": (431, b'{"message": "Request Header Fields Too Large"}'),
    "furl": (431, b'{"message": "Request Header Fields Too Large"}'),
    "alb": (400, (b"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
                  b"<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n")),
}


def test_thousands_of_headers_and_huge_values(run, report):
    cases = {
        "5,000 headers": [(b"X-H%d" % i, b"v") for i in range(5000)],
        "5,000 repeats of one name": [(b"X-Same", b"v%d" % i) for i in range(5000)],
        "one 100 KB value": [(b"X-Big", b"a" * 100_000)],
        "a 100 KB cookie": [(b"Cookie", b"; ".join(b"c%d=%s" % (i, b"v" * 90)
                                                    for i in range(1000)))],
    }
    for name in FORMATS:
        for label, sent in cases.items():
            reply = exchange(run, request_bytes(b"GET", PREFIXES[name].encode() + b"h", sent, b""))
            # Refused by the front door's header limit, never served nor the gateway's 500.
            assert (reply.status, reply.body) == HEADERS_TOO_LARGE[name], (name, label, reply)
        # At the limit is served; one byte over it is refused. Counted: the request target,
        # and every header's name and value (request_bytes adds Host, Content-Length and
        # Connection).
        target = PREFIXES[name].encode() + b"h"
        fixed = len(b"Hostgateway.test" b"Content-Length0" b"Connectionclose" b"X-Fill")
        for over, expected in ((0, 200), (1, HEADERS_TOO_LARGE[name][0])):
            filler = HEADER_LIMITS[name] - len(target) - fixed + over
            sent = [(b"X-Fill", b"f" * filler)]
            reply = exchange(run, request_bytes(b"GET", target, sent, b""))
            assert reply.status == expected, (name, over, reply)
        assert_healthy(run, name)
    # A request line past the HTTP server's limit is its 400, not a crash.
    reply = exchange(run, request_bytes(b"GET", b"/rest/t/?" + b"a" * 200_000, [], b""))
    assert reply.status in (None, 400, 414, 431)
    assert_healthy(run)
    report(f"bad input, huge headers: {len(cases) * len(FORMATS) + 9} requests, 0 failures")


def test_oversize_chunked_body_is_refused(run):
    # No Content-Length to refuse up front: the body is counted as it arrives.
    chunk = b"x" * (1024 * 1024)
    with connect(run) as sock:
        sock.sendall(b"POST /alb/chunked HTTP/1.1\r\nHost: gateway.test\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        try:
            for _ in range(2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass
        reply = parse(read_all(sock))
    assert reply.status == 413 and b"413 Request Entity Too Large" in reply.body
    assert_healthy(run, "alb")


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


BROKEN = {
    "body announced, never sent": b"POST %s HTTP/1.1\r\nHost: g\r\nContent-Length: 1000\r\n\r\n",
    "half the body": b"POST %s HTTP/1.1\r\nHost: g\r\nContent-Length: 1000\r\n\r\n" + b"a" * 500,
    "half a chunked body": b"POST %s HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"100\r\nabc",
    "partial headers": b"GET %s HTTP/1.1\r\nHost: g\r\nX-Slow: ",
    "partial request line": b"GET %s HT",
    "invoke body half sent": b"POST /2015-03-31/functions/plain/invocations HTTP/1.1\r\n"
                             b"Host: g\r\nContent-Length: 100\r\n\r\n{\"a\":",
}


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_clients_that_give_up_mid_request(run, report, reset):
    for name in FORMATS:
        for template in BROKEN.values():
            sock = connect(run)
            sock.sendall(template.replace(b"%s", PREFIXES[name].encode() + b"broken"))
            # The gateway has the partial request once it answers another connection.
            assert httpx.get(f"{run.url}/__/status", timeout=TIMEOUT).status_code == 200
            rst_close(sock) if reset else sock.close()
        assert_healthy(run, name)
    # The disconnects are logged by no traceback (checked above) and cost no replica.
    report(f"bad input, clients gone mid-request ({'reset' if reset else 'closed'}): "
           f"{len(BROKEN) * len(FORMATS)} connections, 0 failures")


@pytest.mark.parametrize("name", FORMATS)
def test_client_gone_mid_response(run, name):
    size = 900_000 if name == "alb" else 5_000_000  # under each format's response limit
    with connect(run) as sock:
        sock.sendall(f"GET {PREFIXES[name]}__big__/{size} HTTP/1.1\r\nHost: g\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        rst_close(sock)
    assert_healthy(run, name)


def test_client_gone_while_the_handler_runs(run):
    """As on Lambda, the invocation runs to its end though its caller left, and the
    concurrency-1 replica is free for the next request as soon as it ends."""
    project: Path = run.project
    for name, tag in (("rest", "a"), ("furl", "b")):
        sock = connect(run)
        sock.sendall(f"GET {PREFIXES[name]}__hold__/{tag} HTTP/1.1\r\nHost: g\r\n\r\n".encode())
        started, done = project / f"started-{tag}", project / f"done-{tag}"
        wait_for(started.exists, TIMEOUT,
                 message="the handler to start")
        rst_close(sock)
        (project / f"release-{tag}").touch()
        wait_for(done.exists, TIMEOUT,
                 message="the abandoned invocation to finish")
        assert_healthy(run, name)
