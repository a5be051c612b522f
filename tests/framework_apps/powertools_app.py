"""aws-lambda-powertools resolvers, one per event format; every route lives under /powertools."""

import base64
import hashlib
import os

from aws_lambda_powertools.event_handler import (
    ALBResolver,
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
    Response,
)
from aws_lambda_powertools.shared.cookies import Cookie

RESOLVERS = {"http-api": APIGatewayHttpResolver, "rest-api": APIGatewayRestResolver,
             "function-url": LambdaFunctionUrlResolver, "alb": ALBResolver}
app = RESOLVERS[os.environ["EVENT_FORMAT"]]()


def query(name):
    # The view that holds the parameter in every format, ALB multi-value mode included.
    value = (app.current_event.resolved_query_string_parameters or {}).get(name)
    return value[-1] if isinstance(value, list) else value


@app.get("/powertools/items/<item_id>")
def item(item_id):
    return {"id": item_id, "q": query("q")}


@app.post("/powertools/echo")
def echo():
    return {"received": app.current_event.json_body}


@app.post("/powertools/upload")
def upload():
    event = app.current_event  # decoded_body would decode the bytes as UTF-8
    data = base64.b64decode(event.body) if event.is_base64_encoded else (event.body or "").encode()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.get("/powertools/cookies")
def cookies():
    return Response(200, "text/plain; charset=utf-8", "cookies set",
                    cookies=[Cookie("a", "1", path="/", secure=False),
                             Cookie("b", "2", path="/", secure=False, http_only=True)])


@app.get("/powertools/redirect")
def redirect():
    return Response(302, None, "", headers={"Location": "/somewhere"})


@app.get("/powertools/binary")
def binary():
    return Response(200, "image/png", bytes(range(256)))


@app.get("/powertools/text")
def text():
    return Response(200, "text/plain; charset=utf-8", "hello")


def handler(event, context):
    return app.resolve(event, context)
