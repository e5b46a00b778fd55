"""The prediction API's app factory.

``create_app(settings)`` builds the app without touching the network: the
:class:`~modelyard.serving.engine.Predictor`, the router that serves every protocol's
endpoints, and the FastAPI app that documents them (``/openapi.json``, ``/docs``, ``/redoc``)
and answers unknown paths. The lifespan starts the engine (model loading, which retries while
MLflow is unreachable, the registry poll for hot swaps, the micro-batcher) and stops it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelyard.config import Settings
from modelyard.inference.model import load_version
from modelyard.inference.watcher import VersionLoader
from modelyard.serving.catalog import RegistryFactory
from modelyard.serving.engine import Predictor
from modelyard.serving.errors import ApiError, internal_error
from modelyard.serving.guard import Guard
from modelyard.serving.http import Reply
from modelyard.serving.protocols import open_inference, own
from modelyard.serving.router import ServingApp
from modelyard.serving.routes import (
    bench,
    kserve_v1,
    mlflow_scoring,
    retraining,
    service,
)
from modelyard.serving.routes import (
    open_inference as open_inference_routes,
)
from modelyard.serving.routes import (
    own as own_routes,
)

log = logging.getLogger(__name__)

_PROTOCOL_PREFIXES = ("/v2/models", "/v2/health", "/v1/models")
DOCS_ASSETS = "/docs/assets"

DESCRIPTION = """
Predictions from models in the MLflow registry, over four protocols on the same loaded models:

* modelyard's own: `POST /predict`, `/v1/predict`, `/v2/predict` (bound by configuration),
  `POST /models/{name}/predict` (any served model) and
  `POST /models/{name}/versions/{ref}/predict` (any version or alias of one);
* MLflow scoring (as `mlflow models serve`): `POST /invocations`, `GET /ping`, `GET /version`;
* Open Inference Protocol (KServe V2): `/v2/health/*`, `/v2/models/{name}[/versions/{version}]`;
* KServe V1: `POST /v1/models/{name}:predict`.

Image classifiers take base64 images (JSON), multipart/form-data uploads or a raw `image/*`
body on our own protocol, `{"b64": ...}` instances on KServe V1 and MLflow scoring, and BYTES
tensors (JSON or binary) on V2, and answer their `top_k` classes, most probable first.

Every prediction names the model version that made it (body and `X-Model-Version` header).
"""


def create_app(
    settings: Settings,
    registries: RegistryFactory | None = None,
    loader: VersionLoader = load_version,
) -> ServingApp:
    """The API for ``settings``; models load in the lifespan (with ``loader``), never here.

    ``registries`` gives the registry of a model name (default: the settings' MLflow).
    """
    engine = Predictor(settings, registries, loader)
    guard = Guard(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guard.start()
        await engine.start()
        log.info(
            "API starting: models %s; /predict=%s /v1/predict=%s /v2/predict=%s",
            ", ".join(map(str, settings.served_models)),
            *settings.endpoint_bindings.values(),
        )
        try:
            yield
        finally:
            await engine.stop()
            guard.stop()
            log.info("API stopped")

    # FastAPIOffline: FastAPI whose /docs (Swagger UI) and /redoc load their scripts and styles
    # from the assets that fastapi-offline ships, served under DOCS_ASSETS, not from a CDN.
    docs = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="modelyard prediction API",
        version=version("modelyard"),
        description=DESCRIPTION,
        lifespan=lifespan,
        # The API exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks would
        # only add work to every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    docs.state.serving = engine
    app = ServingApp(engine, docs, guard)
    own_routes.register(app)
    mlflow_scoring.register(app)
    kserve_v1.register(app)
    open_inference_routes.register(app)
    service.register(app)
    retraining.register(app)
    if settings.bench_endpoints:
        bench.register(app)
    _document_security(docs, guard.security_schemes())
    docs.add_exception_handler(HTTPException, _http_error)
    docs.add_exception_handler(RequestValidationError, _invalid_request)
    docs.add_exception_handler(Exception, _server_error)
    return app


def _document_security(docs: FastAPI, schemes: dict[str, Any]) -> None:
    """Declare the keys the API takes in its OpenAPI document (Swagger UI's Authorize)."""
    if not schemes:
        return
    generate = docs.openapi

    def openapi() -> dict[str, Any]:
        if docs.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = schemes
        return docs.openapi_schema or {}

    docs.openapi = openapi  # type: ignore[method-assign]


def _render(request: Request, error: ApiError) -> Response:
    """An error of the documentation app, in the shape of the protocol its path belongs to."""
    render = (
        open_inference.render if request.url.path.startswith(_PROTOCOL_PREFIXES) else own.render
    )
    reply: Reply = render(error)
    return Response(reply.body, reply.status, media_type=reply.media_type)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 400)
    if status == 404:
        error = ApiError("not_found", f"no endpoint at {request.url.path}; see GET / for the list")
    elif status == 405:
        error = ApiError(
            "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )
    else:
        error = ApiError("bad_request", str(getattr(exc, "detail", "")) or "request refused")
    return _render(request, error)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    return _render(request, ApiError("bad_request", "the request does not fit the endpoint"))


async def _server_error(request: Request, exc: Exception) -> Response:
    """Last resort for an exception in the documentation app; Starlette re-raises it after
    this answer, and the server logs its traceback."""
    request.app.state.serving.metrics.internal_errors.labels("unmatched").inc()
    return _render(request, internal_error())
