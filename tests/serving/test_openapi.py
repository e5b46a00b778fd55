"""The OpenAPI document is true: schemathesis, in process, finds nothing to report.

Every operation of ``/openapi.json`` gets generated requests against the API with the
fixture models loaded (tabular ones only, and the image classifier ``digits`` beside one);
the checks are that nothing answers 5xx, and that every status, content type and body is
one the document declares for that operation.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from inprocess import FixtureRegistry, fixture_loader, fixture_settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serving_models import digits_prepared

from modelyard.serving.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 12  # per operation: the whole run stays within seconds


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
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with asgi.get_client(app) as client:  # starts the lifespan; the models load from it
        ready = _poll_ready(client)
        assert ready == 200
    found: dict[str, set[str]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            try:
                case.call_and_validate(checks=CHECKS)
            except (AssertionError, FailureGroup) as exc:
                for failure in getattr(exc, "exceptions", [exc]):
                    title = getattr(failure, "title", type(failure).__name__)
                    message = str(getattr(failure, "message", failure)).splitlines()[:2]
                    found.setdefault(case.operation.label, set()).add(
                        f"{title}: {' '.join(message)}"
                    )

        check()
    assert found == {}


def _poll_ready(client: Any) -> int:
    deadline = time.monotonic() + 30
    status = client.get("/ready").status_code
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.01)
        status = client.get("/ready").status_code
    return int(status)
