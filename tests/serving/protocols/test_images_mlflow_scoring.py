"""MLflow scoring (``/invocations``) with an image classifier: ``{"instances": [{"b64":
...}]}`` or ``{"inputs": {"image_data": [...]}}`` with ``params.top_k``, answered
``{"predictions": [{"top_k": [...]}, ...], "model"}``; refusals in MLflow's shape."""

from __future__ import annotations

from typing import Any

import pytest
from image_samples import BAD_IMAGES, SMALL_IMAGE_BYTES, SMALL_TOP_K, b64, png

INVOCATIONS = "/invocations"


def refused(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == ("BAD_REQUEST" if status == 400 else body["error_code"])
    return str(body["message"])


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [{"b64": b64(png(6))}, {"b64": b64(png(2))}], "params": {"top_k": 2}},
        {"inputs": {"image_data": [b64(png(6)), b64(png(2))]}, "params": {"top_k": 2}},
    ],
    ids=["instances", "inputs"],
)
def test_images_are_classified(digits, payload) -> None:
    response = digits.post(INVOCATIONS, json=payload)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    body = response.json()
    assert body["model"] == {"name": "digits", "version": "2"}
    assert [p["top_k"][0]["label"] for p in body["predictions"]] == ["6", "2"]
    assert all(len(p["top_k"]) == 2 for p in body["predictions"])


def test_top_k_defaults_to_five(digits) -> None:
    response = digits.post(INVOCATIONS, json={"inputs": {"image_data": b64(png(3))}})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"][0]["top_k"]) == 5


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images(digits, bad, name) -> None:
    data, reason = bad[name]
    message = refused(
        digits.post(INVOCATIONS, json={"inputs": {"image_data": [b64(png(1)), b64(data)]}}), 400
    )
    assert message.startswith("row 1, field 'image_data': ") and reason in message


def test_bad_requests(digits, digits_limited) -> None:
    message = refused(digits.post(INVOCATIONS, json={"instances": [{"b64": "@@"}]}), 400)
    assert "field 'instances': invalid base64" in message
    message = refused(
        digits.post(INVOCATIONS, json={"inputs": {"image_data": ["x"], "other": [1]}}), 400
    )
    assert "unexpected input 'other'" in message
    for top_k in ("two", 0, SMALL_TOP_K + 1):
        message = refused(
            digits_limited.post(
                INVOCATIONS,
                json={"inputs": {"image_data": [b64(png(1))]}, "params": {"top_k": top_k}},
            ),
            400,
        )
        assert message.startswith("params.top_k ")
    big = {"inputs": {"image_data": [b64(bytes(SMALL_IMAGE_BYTES))]}}
    assert "byte limit" in refused(digits_limited.post(INVOCATIONS, json=big), 413)


def test_a_row_to_an_image_model(digits) -> None:
    message = refused(
        digits.post(INVOCATIONS, json={"dataframe_records": [{"sepal_length": 1.0}]}), 400
    )
    assert "this model classifies images" in message


def test_the_openapi_image_examples_are_answered(digits) -> None:
    spec = digits.get("/openapi.json").json()
    examples = spec["paths"][INVOCATIONS]["post"]["requestBody"]["content"]["application/json"]
    for name in ("images_instances", "images_inputs"):
        response = digits.post(INVOCATIONS, json=examples["examples"][name]["value"])
        assert response.status_code == 200, (name, response.text)
        assert response.json()["predictions"][0]["top_k"][0]["label"] == "3"
