"""KServe V1 with an image classifier: ``{"instances": [{"b64": ...}], "top_k": k}`` in,
``{"predictions": [{"top_k": [...]}, ...], "model_name", "model_version"}`` out; every
refusal ``{"error": "<field>: <reason>"}``, 400 for bad input, 413 for a large body."""

from __future__ import annotations

from typing import Any

import pytest
from image_samples import BAD_IMAGES, SMALL_IMAGE_BYTES, SMALL_TOP_K, b64, data_uri, jpeg, png
from serving_support import IRIS_ROW

PREDICT = "/v1/models/digits:predict"


def refused(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert "x-model-version" not in response.headers
    body = response.json()
    assert set(body) == {"error"}
    return str(body["error"])


def instances(*images: bytes) -> list[dict[str, str]]:
    return [{"b64": b64(image)} for image in images]


def test_images_are_classified(digits) -> None:
    sent = [4, 1, 8]
    response = digits.post(
        PREDICT, json={"instances": instances(png(4), jpeg(1), png(8, mode="RGB")), "top_k": 3}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    body = response.json()
    assert set(body) == {"predictions", "model_name", "model_version"}
    assert (body["model_name"], body["model_version"]) == ("digits", "2")
    assert [p["top_k"][0]["label"] for p in body["predictions"]] == [str(d) for d in sent]
    for prediction in body["predictions"]:
        top = prediction["top_k"]
        assert len(top) == 3
        assert [e["probability"] for e in top] == sorted(
            (e["probability"] for e in top), reverse=True
        )
        assert all(set(e) == {"label", "index", "probability"} for e in top)


def test_top_k_default_and_cap(digits) -> None:
    default = digits.post(PREDICT, json={"instances": instances(png(0))})
    assert len(default.json()["predictions"][0]["top_k"]) == 5
    everything = digits.post(PREDICT, json={"instances": instances(png(0)), "top_k": 99})
    assert len(everything.json()["predictions"][0]["top_k"]) == 10
    uri = digits.post(PREDICT, json={"instances": [{"b64": data_uri(png(9))}]})
    assert uri.json()["predictions"][0]["top_k"][0]["label"] == "9"


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images(digits, bad, name) -> None:
    data, reason = bad[name]
    message = refused(digits.post(PREDICT, json={"instances": instances(png(1), data)}), 400)
    assert message.startswith("row 1, field 'instances': ")
    assert reason in message


def test_invalid_base64_and_bad_instances(digits) -> None:
    message = refused(digits.post(PREDICT, json={"instances": [{"b64": "%%%"}]}), 400)
    assert message.startswith("row 0, field 'instances': invalid base64")
    mixed = refused(
        digits.post(PREDICT, json={"instances": [{"b64": b64(png(1))}, {"b64": "x", "k": 1}]}),
        400,
    )
    assert mixed == 'instances: row 1: an image instance is an object {"b64": "<base64 image>"}'


@pytest.mark.parametrize(
    ("top_k", "reason"),
    [("3", "got a string ('3')"), (0, "at least 1"), (SMALL_TOP_K + 1, f"limit of {SMALL_TOP_K}")],
)
def test_a_bad_top_k(digits_limited, top_k, reason) -> None:
    message = refused(
        digits_limited.post(PREDICT, json={"instances": instances(png(1)), "top_k": top_k}), 400
    )
    assert message.startswith("top_k ") and reason in message


def test_a_body_over_the_limit(digits_limited) -> None:
    big = {"instances": [{"b64": b64(bytes(SMALL_IMAGE_BYTES))}]}
    message = refused(digits_limited.post(PREDICT, json=big), 413)
    assert f"{SMALL_IMAGE_BYTES}-byte limit" in message


def test_an_image_to_a_tabular_model_and_a_row_to_an_image_model(digits) -> None:
    image = refused(
        digits.post("/v1/models/iris:predict", json={"instances": instances(png(1))}), 400
    )
    assert image.startswith("field 'instances': this model takes tabular features, not images")
    row = refused(digits.post(PREDICT, json={"instances": [IRIS_ROW]}), 400)
    assert "this model classifies images" in row
    tabular = digits.post("/v1/models/iris:predict", json={"instances": [IRIS_ROW]})
    assert tabular.json()["predictions"] == ["setosa"]


def test_the_openapi_image_example_is_answered(digits) -> None:
    spec = digits.get("/openapi.json").json()
    content = spec["paths"]["/v1/models/{name}:predict"]["post"]["requestBody"]["content"]
    example = content["application/json"]["examples"]["images"]["value"]
    response = digits.post(PREDICT, json=example)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["top_k"][0]["label"] == "3"
