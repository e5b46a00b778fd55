"""The prediction API's app factory.

``create_app(settings)`` builds the FastAPI app without touching the network; the lifespan
starts the model loader (which retries while MLflow is unreachable), the registry poll for
hot swaps and the micro-batcher, and stops them on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from modelyard.config import Settings
from modelyard.inference.model import load_version
from modelyard.inference.watcher import VersionLoader
from modelyard.registry import Registry
from modelyard.serving.engine import Predictor
from modelyard.serving.errors import ApiError, internal_error, render_own
from modelyard.serving.metrics import MetricsMiddleware
from modelyard.serving.routes import (
    bench,
    kserve_v1,
    mlflow_scoring,
    open_inference,
    predict,
    service,
)

log = logging.getLogger(__name__)

_PROTOCOL_PREFIXES = ("/v2/models", "/v2/health", "/v1/models")
DOCS_ASSETS = "/docs/assets"

DESCRIPTION = """
Predictions from models in the MLflow registry, over four protocols on the same loaded models:

* modelyard's own: `POST /predict`, `/v1/predict`, `/v2/predict`;
* MLflow scoring (as `mlflow models serve`): `POST /invocations`, `GET /ping`, `GET /version`;
* Open Inference Protocol (KServe V2): `/v2/health/*`, `/v2/models/{name}[/versions/{version}]`;
* KServe V1: `POST /v1/models/{name}:predict`.

Every prediction names the model version that made it (body and `X-Model-Version` header).
"""


def create_app(
    settings: Settings, registry: Registry | None = None, loader: VersionLoader = load_version
) -> FastAPI:
    """The API for ``settings``; models load in the lifespan (with ``loader``), never here."""
    engine = Predictor(settings, registry, loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        log.info(
            "API starting: model %s, /predict=%s /v1/predict=%s /v2/predict=%s",
            settings.model_name,
            settings.model_ref,
            settings.v1_model,
            settings.v2_model,
        )
        try:
            yield
        finally:
            await engine.stop()
            log.info("API stopped")

    # FastAPIOffline: FastAPI whose /docs (Swagger UI) and /redoc load their scripts and styles
    # from the assets that fastapi-offline ships, served under DOCS_ASSETS, not from a CDN.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="modelyard prediction API",
        version=version("modelyard"),
        description=DESCRIPTION,
        lifespan=lifespan,
        # The API exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks would
        # only add work to every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.serving = engine
    # Prediction routes first: the router tries routes in order, and they are the hot ones.
    predict.register(app)
    mlflow_scoring.register(app)
    kserve_v1.register(app)
    open_inference.register(app)
    service.register(app)
    if settings.bench_endpoints:
        bench.register(app)
    serve_without_dependency_injection(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(MetricsMiddleware, metrics=engine.metrics)
    return app


def serve_without_dependency_injection(app: FastAPI) -> None:
    """Serve every route as a plain Starlette route; the FastAPI routes only document them.

    The endpoints take the raw ``Request`` and parse it themselves, so FastAPI's per-request
    dependency solving buys nothing and costs a large share of a fast prediction. Each route
    gets a Starlette twin in front of it (same path, methods and endpoint), which the router
    matches first; the FastAPI route stays in the list for ``/openapi.json`` and ``/docs``.
    The documentation pages themselves (not in the schema) keep their FastAPI routes only.
    """
    twins = [
        _Twin(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        for route in app.router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
    ]
    app.router.routes[:0] = twins


class _Twin(Route):
    """A Starlette route that, like FastAPI's, names itself in the scope (for metrics)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _render(request: Request, error: ApiError) -> Response:
    if request.url.path.startswith(_PROTOCOL_PREFIXES):
        return open_inference.render(error)
    return render_own(error)


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
    """Last resort for an exception outside the endpoints (their own guard answers theirs).

    Starlette re-raises it after this answer, and the server logs its traceback.
    """
    return _render(request, internal_error(request, exc, log_traceback=False))
