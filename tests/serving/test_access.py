"""Access control and limits of the prediction API, in process (no server, no MLflow).

Keys on every protocol's prediction endpoints (401 with WWW-Authenticate, 403, each in the
protocol's error shape), health/readiness/metrics open, admin keys (hashed and plain) and
admin actions refused off loopback, rate limits per key and per client, CORS from the
settings, and the body, concurrency and time limits, which are driven at the ASGI level to
see what the app reads and when it answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import FixtureRegistry, fixture_loader, fixture_settings, serving
from serving_support import IRIS_ROW
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelyard.cli import app as cli
from modelyard.security.keys import hash_key, new_key
from modelyard.serving.app import create_app
from modelyard.serving.guard import RateLimit
from modelyard.serving.router import ServingApp

VALUES = list(IRIS_ROW.values())
# (path, body, the refusal's error text as the protocol shapes it)
PREDICT = {
    "own": ("/predict", IRIS_ROW, lambda r: r.json()["error"]["code"]),
    "mlflow": (
        "/invocations",
        {"dataframe_records": [IRIS_ROW]},
        lambda r: r.json()["error_code"],
    ),
    "kserve_v1": ("/v1/models/iris:predict", {"instances": [VALUES]}, lambda r: r.json()["error"]),
    "v2": (
        "/v2/models/iris/infer",
        {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": VALUES}]},
        lambda r: r.json()["error"],
    ),
}
MISSING = {"own": "unauthorized", "mlflow": "UNAUTHENTICATED"}
WRONG = {"own": "forbidden", "mlflow": "PERMISSION_DENIED"}
API_KEYS = (new_key(), new_key())
ADMIN_KEY = new_key()
PLAIN_ADMIN_KEY = "local-admin-key"
ORIGIN = "https://app.example.com"


def app_for(home: Path, **settings: Any) -> ServingApp:
    """The app on the fixture registry, not started."""
    return create_app(fixture_settings(home, **settings), FixtureRegistry, fixture_loader)  # type: ignore[arg-type]


def hashes(*keys: str) -> str:
    return ",".join(hash_key(key) for key in keys)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Keys on, bound to every address, CORS for one origin, two rows a request."""
    with serving(
        tmp_path_factory.mktemp("keyed"),
        host="0.0.0.0",
        api_key_hashes=hashes(*API_KEYS),
        admin_key_hashes=hashes(ADMIN_KEY),
        admin_key=PLAIN_ADMIN_KEY,
        cors_origins=ORIGIN,
        max_batch_rows=2,
    ) as client:
        yield client


def test_keygen_prints_a_key_and_its_hash() -> None:
    result = CliRunner().invoke(cli, ["keygen"])
    assert result.exit_code == 0, result.output
    key_line, hash_line = result.output.splitlines()
    key = key_line.removeprefix("key=")
    assert key_line.startswith("key=my_") and len(key) > 40
    assert hash_line == f"hash=sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    assert CliRunner().invoke(cli, ["keygen"]).output != result.output


@pytest.mark.parametrize("protocol", PREDICT)
def test_every_protocol_needs_a_key(keyed: TestClient, protocol: str) -> None:
    path, body, code = PREDICT[protocol]
    missing = keyed.post(path, json=body)
    assert missing.status_code == 401, missing.text
    assert missing.headers["www-authenticate"] == 'Bearer realm="modelyard"'
    assert MISSING.get(protocol, "Authorization: Bearer") in code(missing)
    wrong = keyed.post(path, json=body, headers={"Authorization": f"Bearer {API_KEYS[0]}x"})
    assert wrong.status_code == 403, wrong.text
    assert WRONG.get(protocol, "the key is not valid here") in code(wrong)
    # the admin key is not an API key
    assert keyed.post(path, json=body, headers={"X-API-Key": ADMIN_KEY}).status_code == 403
    for headers in ({"Authorization": f"Bearer {API_KEYS[0]}"}, {"X-API-Key": API_KEYS[1]}):
        answer = keyed.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-model-version"] == "2"


THREE_ROWS = {
    "own": {"records": [IRIS_ROW] * 3},
    "mlflow": {"dataframe_records": [IRIS_ROW] * 3},
    "kserve_v1": {"instances": [VALUES] * 3},
    "v2": {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": VALUES * 3}]},
}


@pytest.mark.parametrize("protocol", PREDICT)
def test_every_protocol_enforces_the_row_limit(keyed: TestClient, protocol: str) -> None:
    """MODELYARD_MAX_BATCH_ROWS holds on every protocol (the body and pixel limits are
    checked on each below and in tests/serving/protocols/test_images_*)."""
    path, _, code = PREDICT[protocol]
    key = {"X-API-Key": API_KEYS[0]}
    answer = keyed.post(path, json=THREE_ROWS[protocol], headers=key)
    assert answer.status_code == 413, answer.text
    assert "3 rows is over the limit of 2 rows per request" in answer.text
    assert protocol != "own" or code(answer) == "batch_too_large"


def test_health_readiness_metrics_and_docs_stay_open(keyed: TestClient) -> None:
    for path in ("/health", "/ready", "/ping", "/v2/health/ready", "/metrics", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path
    assert keyed.get("/v2/models/iris").status_code == 401  # model metadata is not open


def test_the_openapi_document_declares_the_keys(keyed: TestClient, tmp_path: Path) -> None:
    document = keyed.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"bearer", "apiKey", "adminKey"}
    paths = document["paths"]
    assert paths["/predict"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert paths["/admin/alerts"]["post"]["security"] == [{"bearer": []}, {"adminKey": []}]
    assert "security" not in paths["/health"]["get"]
    with TestClient(app_for(tmp_path)) as open_client:  # no keys: nothing declared
        plain = open_client.get("/openapi.json").json()
    assert "securitySchemes" not in plain.get("components", {})
    assert "security" not in plain["paths"]["/predict"]["post"]


def test_admin_keys_hashed_and_plain(keyed: TestClient) -> None:
    refused = keyed.post("/admin/reload")
    assert refused.status_code == 401 and refused.json()["error"]["field"] == "X-Admin-Key"
    assert keyed.post("/admin/reload", headers={"X-Admin-Key": API_KEYS[0]}).status_code == 403
    for headers in (
        {"X-Admin-Key": ADMIN_KEY},
        {"Authorization": f"Bearer {ADMIN_KEY}"},
        {"X-Admin-Key": PLAIN_ADMIN_KEY},
    ):
        answer = keyed.post("/admin/reload", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["models"]


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::1", "localhost"])
def test_admin_without_a_key_is_open_on_loopback_only(tmp_path: Path, host: str) -> None:
    with serving(tmp_path, host=host) as client:
        answer = client.post("/admin/reload")
    if host == "0.0.0.0":
        assert answer.status_code == 403, answer.text
        assert "admin actions are off" in answer.json()["error"]["message"]
    else:
        assert answer.status_code == 200, answer.text


def test_metrics_behind_the_keys(tmp_path: Path) -> None:
    app = app_for(tmp_path, api_key_hashes=hashes(API_KEYS[0]), metrics_need_key=True)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": API_KEYS[0]}).status_code == 200
        assert client.get("/health").status_code == 200


def test_cors_only_for_listed_origins(keyed: TestClient, tmp_path: Path) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = keyed.options("/predict", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = keyed.options("/predict", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    simple = keyed.get("/health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    with TestClient(app_for(tmp_path)) as default:
        assert (
            "access-control-allow-origin"
            not in default.get("/health", headers={"Origin": ORIGIN}).headers
        )


def test_rate_limit_per_key_then_per_client(tmp_path: Path) -> None:
    path, body, code = PREDICT["mlflow"]
    with serving(tmp_path / "keys", rate_limit="3/minute", api_key_hashes=hashes(*API_KEYS)) as c:
        first = {"X-API-Key": API_KEYS[0]}
        answers = [c.post(path, json=body, headers=first) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["x-ratelimit-limit"] == "3"
        assert int(answers[0].headers["x-ratelimit-reset"]) > 1_700_000_000
        over = answers[-1]
        assert code(over) == "REQUEST_LIMIT_EXCEEDED"
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # another key has its own budget; health is never counted
        assert c.post(path, json=body, headers={"X-API-Key": API_KEYS[1]}).status_code == 200
        assert all(c.get("/ready").status_code == 200 for _ in range(5))
    with serving(tmp_path / "open", rate_limit="2/minute") as c:
        statuses = [c.post("/predict", json=IRIS_ROW).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (
            c.post("/v2/models/iris/infer", json=PREDICT["v2"][1])
            .json()["error"]
            .startswith("over the rate limit of 2/minute")
        )


# --- limits, at the ASGI level -----------------------------------------------------------------
class Exchange:
    """One request driven straight into the ASGI app: what it read, what it answered."""

    def __init__(self, chunks: list[bytes], gate: asyncio.Event | None = None) -> None:
        self.chunks = list(chunks)
        self.gate = gate
        self.reads = 0
        self.waiting = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        if self.gate is not None:
            self.waiting = True
            await self.gate.wait()
        self.reads += 1
        chunk = self.chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            self.body += message.get("body", b"")

    async def run(self, app: Any, path: str, length: int | None = None) -> Exchange:
        headers = [(b"content-type", b"application/json")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
        }
        await app(scope, self.receive, self.send)
        return self


LIMIT = 2048


@pytest.mark.parametrize("protocol", PREDICT)
def test_body_limit_before_reading_and_while_streaming(tmp_path: Path, protocol: str) -> None:
    """Every protocol refuses a body over the limit: a declared one before reading any of
    it, a streamed one at the chunk that passes the limit, never reading the rest."""
    app = app_for(tmp_path, max_body_bytes=LIMIT)
    path = PREDICT[protocol][0]

    async def both() -> tuple[Exchange, Exchange]:
        declared = await Exchange([b"x" * 10]).run(app, path, length=LIMIT + 1)
        streamed = await Exchange([b"x" * 1024] * 10).run(app, path)
        return declared, streamed

    declared, streamed = asyncio.run(both())
    assert (declared.status, declared.reads) == (413, 0), declared.body
    assert (streamed.status, streamed.reads) == (413, 3), streamed.body
    assert f"{LIMIT}-byte limit".encode() in declared.body


def test_concurrency_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    app = app_for(tmp_path, max_concurrency=2, batching=False)

    async def scenario() -> tuple[Exchange, Exchange]:
        gate = asyncio.Event()
        held = [Exchange([b"{}"], gate) for _ in range(2)]
        running = [asyncio.create_task(h.run(app, "/v1/models/iris:predict")) for h in held]
        for _ in range(1000):  # until both are inside, waiting for their bodies
            if all(h.waiting for h in held):
                break
            await asyncio.sleep(0)
        refused = await Exchange([b"{}"]).run(app, "/invocations")
        gate.set()
        await asyncio.gather(*running)
        after = await Exchange([b"{}"]).run(app, "/invocations")
        return refused, after

    refused, after = asyncio.run(scenario())
    assert refused.status == 503 and refused.headers["retry-after"] == "1"
    assert b"TEMPORARILY_UNAVAILABLE" in refused.body and b"2 requests in progress" in refused.body
    assert after.status != 503 or b"in progress" not in after.body, after.body


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/predict", b'"code":"timeout"'),
        ("/invocations", b'"error_code":"DEADLINE_EXCEEDED"'),
        ("/v2/models/iris/infer", b'{"error":"the request took over 0.2 s'),
    ],
)
def test_request_timeout_answers_504_in_the_protocol_shape(
    tmp_path: Path, path: str, shape: bytes
) -> None:
    app = app_for(tmp_path, request_timeout_seconds=0.2)

    async def stalled() -> Exchange:
        return await Exchange([b"{}"], asyncio.Event()).run(app, path)

    answer = asyncio.run(stalled())
    assert answer.status == 504 and answer.headers["retry-after"] == "1"
    assert shape in answer.body, answer.body


def test_rate_limit_counters_expire() -> None:
    """Counters of callers gone quiet are dropped (memory stays bounded), by the event
    loop's own task rather than limits' thread per 10 ms."""

    async def scenario() -> tuple[int, int]:
        rate = RateLimit("5/second")
        rate.start()
        try:
            for caller in ("a", "b", "c"):
                rate.hit(caller)
            counted = rate.counters
            deadline = time.monotonic() + 10
            while rate.counters and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return counted, rate.counters
        finally:
            rate.stop()

    assert asyncio.run(scenario()) == (3, 0)


def test_a_real_server_bound_to_every_address(trained_registry: Any, api_factory: Any) -> None:
    """Through uvicorn: the key challenge and rate-limit headers reach the client, and a
    server bound beyond loopback without an admin key refuses admin actions."""
    key = new_key()
    settings = {"host": "0.0.0.0", "api_key_hashes": hash_key(key), "rate_limit": "50/minute"}
    with api_factory(trained_registry, **settings) as api:
        missing = api.post("/predict", json=IRIS_ROW)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="modelyard"'
        answer = api.post("/predict", json=IRIS_ROW, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit"] == "50"
        assert answer.headers["x-ratelimit-remaining"] == "49"
        admin = api.post("/admin/reload", headers={"Authorization": f"Bearer {key}"})
        assert admin.status_code == 403 and "admin actions are off" in admin.text
        assert api.get("/metrics").status_code == 200
