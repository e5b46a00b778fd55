"""The API's documentation pages in headless Chromium, with every request off the API refused.

``modelyard serve`` runs as in the serving image (base dependencies only) and with no MLflow
reachable: the pages need no model. The browser may load nothing but the API itself, as on
a machine without internet, so a page that fetches its scripts from a CDN stays blank.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from serving_support import no_registry

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# What a page needs to work; ReDoc's footer also shows its vendor's logo from the web, an
# image whose absence offline loses nothing.
NEEDED = {"document", "script", "stylesheet", "font", "fetch", "xhr"}
PREDICT_SUMMARY = "Predict with the model bound to MODELYARD_MODEL_REF"


@pytest.fixture
def docs_api(api_factory: Any) -> Iterator[Any]:
    with api_factory(no_registry(), wait_ready=False, serving_only=True) as server:
        yield server


@pytest.fixture
def offline_page(docs_api: Any, chromium: Any) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium tab that can reach only the API; the list collects the scripts, styles and
    data it was refused."""
    refused: list[str] = []
    api_host = urlsplit(docs_api.url).netloc

    def only_the_api(route: Any) -> None:
        if urlsplit(route.request.url).netloc == api_host:
            route.continue_()
        else:
            if route.request.resource_type in NEEDED:
                refused.append(route.request.url)
            route.abort()

    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    try:
        context.route("**/*", only_the_api)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        yield tab, refused
    finally:
        context.close()


def test_swagger_ui_lists_the_operations_offline(docs_api: Any, offline_page: Any) -> None:
    page, refused = offline_page
    page.goto(f"{docs_api.url}/docs")
    predict = page.locator('.opblock-summary-path[data-path="/predict"]')
    predict.wait_for(state="visible")
    assert page.locator('.opblock-summary-path[data-path="/invocations"]').count() == 1
    assert page.get_by_text(PREDICT_SUMMARY).first.is_visible()
    # Opening an operation shows its documented example.
    predict.click()
    page.get_by_text('"sepal_length": 5.1').first.wait_for(state="visible")
    assert page.locator('.opblock-summary-path[data-path="/bench/constant"]').count() == 0
    assert refused == []


def test_redoc_lists_the_operations_offline(docs_api: Any, offline_page: Any) -> None:
    page, refused = offline_page
    page.goto(f"{docs_api.url}/redoc")
    page.get_by_role("heading", name=PREDICT_SUMMARY).first.wait_for(state="visible")
    assert page.get_by_text("/invocations").count() > 0
    assert refused == []
