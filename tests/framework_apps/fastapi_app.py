"""A FastAPI app wrapped by Mangum; every route lives under /fastapi."""

import hashlib

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from mangum import Mangum

router = APIRouter(prefix="/fastapi")


@router.get("/items/{item_id}")
def item(item_id: str, q: str | None = None):
    return {"id": item_id, "q": q}


@router.get("/multi")
def multi(request: Request):
    return {"tags": request.query_params.getlist("tag")}


@router.post("/echo")
async def echo(request: Request):
    return {"received": await request.json()}


@router.post("/upload")
async def upload(request: Request):
    data = await request.body()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@router.get("/cookies")
def cookies():
    response = PlainTextResponse("cookies set")
    response.headers.append("set-cookie", "a=1; Path=/")
    response.headers.append("set-cookie", "b=2; Path=/; HttpOnly")
    return response


@router.get("/redirect")
def redirect():
    return RedirectResponse("/somewhere", status_code=302)


@router.get("/binary")
def binary():
    return Response(bytes(range(256)), media_type="image/png")


@router.get("/text")
def text():
    return PlainTextResponse("hello")


app = FastAPI()
app.include_router(router)
handler = Mangum(app, lifespan="off")
