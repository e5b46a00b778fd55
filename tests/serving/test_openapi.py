"""The OpenAPI document is true: schemathesis, in process, finds nothing to report.

Every operation of ``/openapi.json``, in each media type its request body may have, gets
generated requests against the API with the fixture models loaded (tabular ones only, and
the image classifier ``digits`` beside one); the checks are that nothing answers 5xx, and
that every status, content type and body is one the document declares for that operation.
Then every operation with something to break (a request body, a constrained parameter)
gets requests that violate its schema, which must be refused with a 4xx
(``negative_data_rejection``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from inprocess import FixtureRegistry, fixture_loader, fixture_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from serving_models import digits_prepared

from modelyard.serving.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [not_a_server_error, negative_data_rejection]
EXAMPLES = 10  # per operation and media type: the whole run stays within seconds


# The API serving tabular models only, and serving the image classifier beside one.
SERVED = {
    "iris": {},
    "digits": {"model_name": "digits", "models": "digits@champion,iris@champion"},
}


@pytest.fixture(scope="module", params=list(SERVED))
def app(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    home = tmp_path_factory.mktemp("api-home")
    if request.param == "digits":
        for version in ("1", "2"):
            digits_prepared(version)  # fitted before the lifespan's load waits on them
    settings = fixture_settings(home, **SERVED[request.param])
    application = create_app(settings, FixtureRegistry, fixture_loader)  # type: ignore[arg-type]
    yield application
    asgi.shutdown_lifespans()


def test_every_path_parameter_is_declared(app: Any) -> None:
    undeclared = []
    for path, operations in app.docs.openapi()["paths"].items():
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            for name in re.findall(r"{(\w+)}", path):
                if name not in declared:
                    undeclared.append(f"{method.upper()} {path}: {name}")
    assert undeclared == []


def test_schemathesis_finds_nothing(app: Any) -> None:
    runs = _run(app, GenerationMode.POSITIVE, CHECKS)
    # every operation ran, and every request body in each of its media types
    assert len(runs) == sum(len(_media_types(op)) for op in _operations(app)), runs
    assert all(
        count >= (EXAMPLES // 2 if label.count(" ") == 2 else 1) for label, count in runs.items()
    ), runs


# Schema violations are refused alike whatever the models: the API serving both kinds.
@pytest.mark.parametrize("app", ["digits"], indirect=True)
def test_schemathesis_invalid_requests_are_refused(app: Any) -> None:
    runs = _run(app, GenerationMode.NEGATIVE, NEGATIVE_CHECKS, bodies_only=True)
    assert len(runs) >= 40 and all(count >= EXAMPLES // 2 for count in runs.values()), runs


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def _media_types(operation: Any) -> list[str | None]:
    return list(operation.definition.raw.get("requestBody", {}).get("content", {})) or [None]


def _run(
    app: Any, mode: GenerationMode, checks: list[Any], *, bodies_only: bool = False
) -> dict[str, int]:
    """Fuzz every operation (with ``bodies_only``: every one with a request body; the
    others have only free-text path parameters, which nothing can violate) in each media
    type of its body; assert nothing was found; return the examples run per operation."""
    with asgi.get_client(app) as client:  # starts the lifespan; the models load from it
        assert _poll_ready(client) == 200
    found: dict[str, set[str]] = {}
    runs: dict[str, int] = {}
    for operation in _operations(app):
        for media_type in _media_types(operation):
            if bodies_only and media_type is None:
                continue
            label = f"{operation.label} {media_type or ''}".strip()
            check = _fuzz(operation.as_strategy(mode, media_type=media_type), checks, label)
            runs[label] = check(found)
    assert found == {}
    return runs


def _fuzz(strategy: Any, checks: list[Any], label: str) -> Any:
    """A function that runs EXAMPLES cases of ``strategy``, adds what ``checks`` find to
    the dict it is given under ``label``, and returns the number of cases run."""

    def run(found: dict[str, set[str]]) -> int:
        count = 0

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal count
            count += 1
            try:
                case.call_and_validate(checks=checks)
            except (AssertionError, FailureGroup) as exc:
                for failure in getattr(exc, "exceptions", [exc]):
                    title = getattr(failure, "title", type(failure).__name__)
                    message = str(getattr(failure, "message", failure)).splitlines()[:2]
                    found.setdefault(label, set()).add(f"{title}: {' '.join(message)}")

        check()
        return count

    return run


def _poll_ready(client: Any) -> int:
    deadline = time.monotonic() + 30
    status = client.get("/ready").status_code
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.01)
        status = client.get("/ready").status_code
    return int(status)
