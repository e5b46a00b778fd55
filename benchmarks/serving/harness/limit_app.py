"""The limit app: the least an ASGI server stack can do for a prediction request.

One POST route that reads the request body and answers a constant small JSON, on Starlette
with no middleware, served by ``uvicorn --loop uvloop --http httptools`` (see
``servers.start_limit``). Whatever modelyard serves, it cannot be faster than this on the same
server stack, so the benchmark reports modelyard's single-row routes as a share of it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/constant"
ANSWER = b'{"label":"setosa","probabilities":{"setosa":1.0}}'


async def constant(request: Request) -> Response:
    """Read the whole body, then answer the same JSON every time."""
    await request.body()
    return Response(ANSWER, media_type="application/json")


app = Starlette(routes=[Route(PATH, constant, methods=["POST"])])
