"""A Flask app wrapped by apig-wsgi; every route lives under /flask."""

import hashlib

from apig_wsgi import make_lambda_handler
from flask import Blueprint, Flask, Response, jsonify, request
from flask import redirect as flask_redirect

routes = Blueprint("routes", __name__, url_prefix="/flask")


@routes.get("/items/<item_id>")
def item(item_id):
    return jsonify(id=item_id, q=request.args.get("q"))


@routes.get("/multi")
def multi():
    return jsonify(tags=request.args.getlist("tag"))


@routes.post("/echo")
def echo():
    return jsonify(received=request.get_json())


@routes.post("/upload")
def upload():
    data = request.get_data()
    return jsonify(size=len(data), sha256=hashlib.sha256(data).hexdigest())


@routes.get("/cookies")
def cookies():
    response = Response("cookies set", content_type="text/plain; charset=utf-8")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/; HttpOnly")
    return response


@routes.get("/redirect")
def redirect():
    return flask_redirect("/somewhere", code=302)


@routes.get("/binary")
def binary():
    return Response(bytes(range(256)), content_type="image/png")


@routes.get("/text")
def text():
    return Response("hello", content_type="text/plain; charset=utf-8")


app = Flask(__name__)
app.register_blueprint(routes)
handler = make_lambda_handler(app, binary_support=True)
