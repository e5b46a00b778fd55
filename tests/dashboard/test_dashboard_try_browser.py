"""The "Try it" page in headless Chromium against a real prediction API serving an image
model (two versions registered in a real MLflow server) and ``modelyard ui`` as its own
process.

The bars each side draws are compared with what the API itself answers for the same image.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import assert_no_traceback, eventually, plot_data
from image_models import digit_png, iris_prepared, register, register_digits, write_samples

from support import MlflowServer, free_port, modelyard_argv, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SAMPLES = [10, 33, 42]  # digits 0, 5 and 1
UPLOADED = 21  # a digit 1, written to a file and uploaded through the page


@dataclass(frozen=True)
class ImageApi:
    url: str
    name: str
    tracking_uri: str

    def top_k(self, ref: str, image: bytes, k: int = 5) -> dict[str, Any]:
        """The API's own answer for ``image`` from version or alias ``ref``."""
        response = httpx.post(
            f"{self.url}/models/{self.name}/versions/{ref}/predict",
            json={"image_data": base64.b64encode(image).decode(), "top_k": k},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@contextlib.contextmanager
def _serving(tracking_uri: str, name: str, home: Path, log: Path) -> Iterator[str]:
    """``modelyard serve`` of the registered ``name`` (version 1 and champion); its URL."""
    port = free_port()
    env = service_env(
        MLFLOW_TRACKING_URI=tracking_uri,
        MODELYARD_HOME=home,
        MODELYARD_MODEL_NAME=name,
        MODELYARD_MODELS=f"{name}@champion",
        MODELYARD_API_PORT=port,
        MODELYARD_REGISTRY_POLL_SECONDS=0,
    )
    url = f"http://127.0.0.1:{port}"
    log.unlink(missing_ok=True)
    with running(modelyard_argv("serve"), env, log, ready_url=f"{url}/ready", timeout=180):
        yield url


@pytest.fixture(scope="module")
def image_api(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[ImageApi]:
    """The API serving a digits classifier: version 1 and ``champion`` (version 2)."""
    home = tmp_path_factory.mktemp("try-api")
    name = f"digits-{uuid.uuid4().hex[:8]}"
    register_digits(mlflow_server.url, name, home)
    log = artifacts_dir / "logs" / f"dashboard-try-api-{os.getpid()}.log"
    with _serving(mlflow_server.url, name, home, log) as url:
        yield ImageApi(url=url, name=name, tracking_uri=mlflow_server.url)


def _dashboard_env(home: Path, api_url: str, tracking_uri: str, **extra: object) -> dict[str, str]:
    return service_env(
        MLFLOW_TRACKING_URI=tracking_uri,
        MODELYARD_HOME=home,
        MODELYARD_DATABASE_URL=f"sqlite:///{home / 'dashboard.db'}",
        MODELYARD_API_URL=api_url,
        MODELYARD_VIZ_PORT=free_port(),
        MODELYARD_WORKER_METRICS_PORT=free_port(),
        **extra,
    )


def _text(page: Any, selector: str) -> str:
    """The element's text, or "" while it is not on the page (``eventually`` polls again)."""
    element = page.query_selector(selector)
    return str(element.inner_text()).strip() if element is not None else ""


def _bars(page: Any, side: str) -> tuple[list[str], list[float]]:
    traces = plot_data(page, f"try-{side}-chart")
    assert len(traces) == 1 and traces[0]["y"], traces
    return [str(label) for label in traces[0]["y"]], [float(x) for x in traces[0]["x"]]


def _check_side(page: Any, side: str, answer: dict[str, Any]) -> None:
    """The side's bars are the API's top-k, in its order, and its caption names the version."""
    expected = [(item["label"], item["probability"]) for item in answer["top_k"]]

    def drawn() -> bool:
        labels, values = _bars(page, side)
        assert labels == [label for label, _ in expected], (labels, expected)
        assert values == pytest.approx([p for _, p in expected], abs=1e-9)
        return True

    eventually(drawn, timeout=120)
    caption = f"#try-{side}-answer"
    assert page.get_attribute(caption, "data-version") == answer["model"]["version"]
    assert page.get_attribute(caption, "data-name") == answer["model"]["name"]
    latency = float(page.get_attribute(caption, "data-latency-ms") or "nan")
    assert 0 < latency < 60_000
    shown = re.search(r"([\d.]+) ms round trip", page.inner_text(caption))
    assert shown is not None and float(shown.group(1)) == pytest.approx(latency, abs=0.051)


def _choose(page: Any, dropdown: str, option: str) -> None:
    page.click(f"#{dropdown}")
    page.get_by_role("option", name=option, exact=True).click()


def test_upload_compares_two_versions_as_the_api_answers(
    image_api: ImageApi,
    tmp_path: Path,
    start_dashboard: Any,
    page: Any,
    artifacts_dir: Path,
) -> None:
    samples = write_samples(tmp_path / "samples", SAMPLES)
    env = _dashboard_env(
        tmp_path / "home",
        image_api.url,
        image_api.tracking_uri,
        MODELYARD_IMAGE_SAMPLES_DIR=tmp_path / "samples",
    )
    dashboard = start_dashboard(env, "try", refresh_seconds=30.0)
    page.goto(f"{dashboard.url}/try")

    # the served image model is chosen; version 1 on the left, champion (v2) on the right
    eventually(lambda: _text(page, "#try-model-value") == image_api.name, timeout=120)
    eventually(lambda: _text(page, "#try-left-version-value") == "v1")
    eventually(lambda: _text(page, "#try-right-version-value") == "champion → v2")
    assert not page.is_visible("#overview-page")

    # upload a PNG through the page: both versions answer, as the API answers directly
    png = digit_png(UPLOADED)
    upload = tmp_path / "digit.png"
    upload.write_bytes(png)
    page.set_input_files("#try-upload input[type=file]", str(upload))
    page.wait_for_selector("#try-image img.try-thumb", timeout=120_000)
    assert "digit.png" in page.inner_text("#try-image")
    first, champion = image_api.top_k("1", png), image_api.top_k("champion", png)
    assert first["model"]["version"] == "1" and champion["model"]["version"] == "2"
    _check_side(page, "left", first)
    _check_side(page, "right", champion)
    assert _bars(page, "left") != _bars(page, "right")  # two different models answered
    assert_no_traceback(page)
    shot = artifacts_dir / "dashboard" / "try-upload.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # a sample image from the folder replaces the upload
    label, _, file_name = samples[1].partition("/")
    _choose(page, "try-sample", f"{label} · {file_name}")
    sample = (tmp_path / "samples" / samples[1]).read_bytes()
    eventually(lambda: samples[1] in _text(page, "#try-image"))
    _check_side(page, "left", image_api.top_k("1", sample))
    _check_side(page, "right", image_api.top_k("champion", sample))

    # version 2 by number on the left: both sides are the same model
    _choose(page, "try-left-version", "v2 (champion)")
    _check_side(page, "left", image_api.top_k("2", sample))
    assert _bars(page, "left") == _bars(page, "right")

    # a file that is no image: each side shows the API's refusal, not a traceback
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    page.set_input_files("#try-upload input[type=file]", str(text))
    for side in ("left", "right"):
        eventually(lambda s=side: "not an image" in _text(page, f"#try-{s}-error"), timeout=120)
        assert "invalid_image" in page.inner_text(f"#try-{side}-error")
    assert page.query_selector("#try-image img") is None
    assert "notes.txt" in page.inner_text("#try-image")
    assert "pick a sample" in page.inner_text("#try-sample")  # the upload replaced the sample
    assert_no_traceback(page)
    shot = artifacts_dir / "dashboard" / "try-refused.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_page_says_when_the_api_is_down(
    tmp_path: Path, start_dashboard: Any, page: Any, artifacts_dir: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = _dashboard_env(tmp_path / "home", dead, f"http://127.0.0.1:{free_port()}")
    dashboard = start_dashboard(env, "try-api-down", refresh_seconds=30.0)
    page.goto(dashboard.url)
    page.click("#nav-try")  # from the overview, through the navigation
    eventually(lambda: page.is_visible("#try-page") and not page.is_visible("#overview-page"))
    eventually(lambda: "not answering" in _text(page, "#try-message"), timeout=120)
    assert dead in page.inner_text("#try-message")
    assert "modelyard serve" in page.inner_text("#try-message")
    # no sample folder: the page says where it looked and how to fill it
    note = page.inner_text("#try-samples-note")
    assert "No sample images" in note and "modelyard demo images" in note
    assert not page.is_visible("#try-sample")
    assert_no_traceback(page)
    page.click("#nav-overview")
    eventually(lambda: page.is_visible("#overview-page") and not page.is_visible("#try-page"))


def test_page_says_how_to_get_an_image_model(
    mlflow_server: MlflowServer,
    tmp_path: Path,
    start_dashboard: Any,
    page: Any,
    artifacts_dir: Path,
) -> None:
    name = f"iris-{uuid.uuid4().hex[:8]}"
    register(mlflow_server.url, name, tmp_path / "api", [iris_prepared()])
    log = artifacts_dir / "logs" / f"dashboard-try-tabular-api-{os.getpid()}.log"
    with _serving(mlflow_server.url, name, tmp_path / "api", log) as url:
        assert httpx.get(f"{url}/").json()["models"][0]["input_kind"] == "tabular"
        env = _dashboard_env(tmp_path / "home", url, mlflow_server.url)
        dashboard = start_dashboard(env, "try-no-image-model", refresh_seconds=30.0)
        page.goto(f"{dashboard.url}/try")
        eventually(lambda: "serves no image model" in _text(page, "#try-message"), timeout=120)
    message = page.inner_text("#try-message")
    assert "modelyard demo images" in message and "modelyard train --images" in message
    assert_no_traceback(page)
