"""Our own protocol with an image classifier (``digits``), in process.

Every intake form (base64 JSON, a batch under ``images``, multipart file parts, a raw
``image/*`` body), on every path (``/predict``, ``/v1/predict``, ``/v2/predict``,
``/models/{name}/predict``, ``/models/{name}/versions/{ref}/predict``); the answer's ranking,
``top_k`` default and cap, and the version that made it; and every bad input, each a 4xx
``{"error": {"code", "message", "field"[, "row"]}}`` naming the field and the reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from image_samples import (
    BAD_IMAGES,
    SMALL_IMAGE_BYTES,
    SMALL_TOP_K,
    b64,
    data_uri,
    jpeg,
    png,
)
from serving_support import IRIS_ROW

# path → (version, ref) with the `digits` client's settings
PATHS = {
    "/predict": ("2", "champion"),
    "/v1/predict": ("1", "1"),
    "/v2/predict": ("2", "champion"),
    "/models/digits/predict": ("2", "champion"),
    "/models/digits/versions/1/predict": ("1", "1"),
    "/models/digits/versions/champion/predict": ("2", "champion"),
}
DIGITS = range(10)


def refused(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-model-version" not in response.headers
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    return error


def assert_ranked(top: list[dict[str, Any]], k: int) -> None:
    assert len(top) == k
    for entry in top:
        assert set(entry) == {"label", "index", "probability"}
        assert entry["label"] == str(entry["index"])  # digits' classes are 0-9, in order
        assert 0 <= entry["probability"] <= 1
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len({entry["index"] for entry in top}) == k


def batch_calls(client: Any) -> float:
    """Model calls the micro-batcher has made so far."""
    for metric in client.app.engine.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "modelyard_api_batch_rows_count":
                return float(sample.value)
    return 0.0


# --- answers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_one_image_on_every_path(digits, path) -> None:
    version, ref = PATHS[path]
    response = digits.post(path, json={"image_data": b64(png(3))})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    body = response.json()
    assert set(body) == {"top_k", "model"}
    assert body["model"] == {"name": "digits", "version": version, "ref": ref}
    assert_ranked(body["top_k"], 5)  # the default
    assert body["top_k"][0]["label"] == "3"


@pytest.mark.parametrize("path", ["/v1/predict", "/v2/predict"])
@pytest.mark.parametrize("encode", [png, jpeg], ids=["png", "jpeg"])
def test_every_digit_is_recognised(digits, path, encode) -> None:
    for digit in DIGITS:
        response = digits.post(path, json={"image_data": b64(encode(digit)), "top_k": 1})
        assert response.status_code == 200, response.text
        assert response.json()["top_k"][0]["label"] == str(digit), (path, digit)


def test_v1_and_v2_serve_two_generations_side_by_side(digits) -> None:
    image = {"image_data": b64(png(5)), "top_k": 10}
    one, two = (digits.post(path, json=image) for path in ("/v1/predict", "/v2/predict"))
    assert (one.headers["x-model-version"], two.headers["x-model-version"]) == ("1", "2")
    assert one.json()["model"]["version"] == "1" and two.json()["model"]["version"] == "2"
    assert one.json()["top_k"][0]["label"] == two.json()["top_k"][0]["label"] == "5"
    assert one.json()["top_k"] != two.json()["top_k"]  # two models, two sets of scores


@pytest.mark.parametrize(("asked", "answered"), [(1, 1), (3, 3), (10, 10), (50, 10)])
def test_top_k_is_capped_at_the_number_of_classes(digits, asked, answered) -> None:
    response = digits.post("/predict", json={"image_data": b64(png(7)), "top_k": asked})
    assert response.status_code == 200, response.text
    assert_ranked(response.json()["top_k"], answered)
    if answered == 10:
        total = sum(entry["probability"] for entry in response.json()["top_k"])
        assert total == pytest.approx(1, abs=1e-4)


def test_a_data_uri_and_an_rgb_image_are_read(digits) -> None:
    for image in (data_uri(png(4)), data_uri(jpeg(4, mode="RGB"), "image/jpeg")):
        response = digits.post("/predict", json={"image_data": image})
        assert response.status_code == 200, response.text
        assert response.json()["top_k"][0]["label"] == "4"


def test_a_batch_of_images(digits) -> None:
    sent = [2, 0, 9, 6]
    response = digits.post("/v2/predict", json={"images": [b64(png(d)) for d in sent], "top_k": 2})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "2"
    body = response.json()
    assert set(body) == {"predictions", "model"}
    assert body["model"] == {"name": "digits", "version": "2", "ref": "champion"}
    assert [p["top_k"][0]["label"] for p in body["predictions"]] == [str(d) for d in sent]
    for prediction in body["predictions"]:
        assert set(prediction) == {"top_k"}
        assert_ranked(prediction["top_k"], 2)


def test_the_same_image_answers_the_same_in_every_form(digits) -> None:
    image = png(8)
    forms = [
        digits.post("/predict", json={"image_data": b64(image), "top_k": 4}),
        digits.post("/predict", json={"images": [b64(image)], "top_k": 4}),
        digits.post("/predict", files={"image": ("8.png", image, "image/png")}, data={"top_k": 4}),
        digits.post("/predict?top_k=4", content=image, headers={"content-type": "image/png"}),
    ]
    tops = []
    for response in forms:
        assert response.status_code == 200, response.text
        body = response.json()
        tops.append(body["top_k"] if "top_k" in body else body["predictions"][0]["top_k"])
    assert all(top == tops[0] for top in tops)
    assert tops[0][0]["label"] == "8"


def test_multipart_files(digits) -> None:
    files = [("files", (f"{d}.png", png(d), "image/png")) for d in (1, 7)]
    files.append(("files", ("3.jpg", jpeg(3), "image/jpeg")))
    response = digits.post("/v1/predict?top_k=2", files=files)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "1"
    predictions = response.json()["predictions"]
    assert [p["top_k"][0]["label"] for p in predictions] == ["1", "7", "3"]
    assert all(len(p["top_k"]) == 2 for p in predictions)  # top_k from the query
    one = digits.post(
        "/predict?top_k=1", files={"upload": ("x.png", png(6), "image/png")}, data={"top_k": "3"}
    )
    assert one.status_code == 200, one.text
    assert set(one.json()) == {"top_k", "model"}
    assert len(one.json()["top_k"]) == 3  # the form field wins over the query
    assert one.json()["top_k"][0]["label"] == "6"


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg", "image/webp"])
def test_a_raw_image_body(digits, mime) -> None:
    image = jpeg(2) if mime == "image/jpeg" else png(2)  # the decoder reads the bytes' format
    response = digits.post("/predict?top_k=3", content=image, headers={"content-type": mime})
    assert response.status_code == 200, response.text
    assert_ranked(response.json()["top_k"], 3)
    assert response.json()["top_k"][0]["label"] == "2"


def test_one_image_goes_through_the_micro_batcher(digits) -> None:
    before = batch_calls(digits)
    response = digits.post("/predict", json={"image_data": b64(png(1))})
    assert response.status_code == 200, response.text
    assert batch_calls(digits) == before + 1
    batch = digits.post("/predict", json={"images": [b64(png(1))] * 2})
    assert batch.status_code == 200, batch.text
    assert batch_calls(digits) == before + 1  # a batch goes straight to the model


def test_tabular_requests_are_unaffected(digits) -> None:
    response = digits.post("/models/iris/predict", json=IRIS_ROW)
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "setosa"
    batch = digits.post("/models/iris/predict", json={"records": [IRIS_ROW]})
    assert batch.json()["predictions"][0]["label"] == "setosa"


def test_openapi_documents_the_image_forms(digits) -> None:
    spec = digits.get("/openapi.json").json()
    for path in PATHS_DOCUMENTED:
        operation = spec["paths"][path]["post"]
        content = operation["requestBody"]["content"]
        assert {"application/json", "multipart/form-data", "image/png", "image/jpeg"} <= set(
            content
        )
        assert "top_k" in {p["name"] for p in operation["parameters"]}
        examples = content["application/json"]["examples"]
        url = path.replace("{name}", "digits").replace("{ref}", "2")
        for name in ("one_image", "images"):
            response = digits.post(url, json=examples[name]["value"])
            assert response.status_code == 200, (path, name, response.text)
        answers = operation["responses"]["200"]["content"]["application/json"]["examples"]
        assert {"one_image", "images"} <= set(answers)


PATHS_DOCUMENTED = [
    "/predict",
    "/v1/predict",
    "/v2/predict",
    "/models/{name}/predict",
    "/models/{name}/versions/{ref}/predict",
]


# --- refusals ----------------------------------------------------------------------------------
def test_an_unknown_version_or_model(digits) -> None:
    refused(
        digits.post("/models/digits/versions/7/predict", json={"image_data": b64(png(1))}),
        404,
        "model_not_found",
        "version",
    )
    refused(
        digits.post("/models/roses/versions/1/predict", json={"image_data": b64(png(1))}),
        404,
        "model_not_found",
        "name",
    )


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images_in_json(digits, bad, name) -> None:
    data, reason = bad[name]
    error = refused(
        digits.post("/predict", json={"image_data": b64(data)}), 422, "invalid_image", "image_data"
    )
    assert reason in error["message"]
    assert "row" not in error
    batch = refused(
        digits.post("/predict", json={"images": [b64(png(1)), b64(data)]}),
        422,
        "invalid_image",
        "images",
    )
    assert batch["row"] == 1 and reason in batch["message"]


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images_uploaded(digits, bad, name) -> None:
    data, reason = bad[name]
    one = refused(
        digits.post("/predict", files={"photo": ("x.png", data, "image/png")}),
        422,
        "invalid_image",
        "photo",
    )
    assert reason in one["message"]
    raw = refused(
        digits.post("/predict", content=data, headers={"content-type": "image/png"}),
        422,
        "invalid_image",
        "body",
    )
    assert reason in raw["message"]


def test_which_unsupported_mode_or_animation_is_said(digits, bad) -> None:
    messages = {
        name: digits.post("/predict", json={"image_data": b64(bad[name][0])}).json()["error"][
            "message"
        ]
        for name in ("cmyk_jpeg", "png_16_bit", "animated_gif")
    }
    assert "'CMYK'" in messages["cmyk_jpeg"]
    assert "'I;16'" in messages["png_16_bit"]
    assert "GIF, 3 frames" in messages["animated_gif"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("!!not base64!!", "invalid base64"),
        ("data:image/png,abc", "must be base64"),
        ("", "empty"),
        (17, "as a string, got a number"),
        (None, "got null"),
    ],
)
def test_image_data_that_is_not_base64(digits, value, reason) -> None:
    error = refused(
        digits.post("/predict", json={"image_data": value}), 422, "invalid_image", "image_data"
    )
    assert reason in error["message"]


@pytest.mark.parametrize(
    ("top_k", "reason"),
    [
        ("three", "must be an integer, got "),
        ("3", "must be an integer, got a string ('3')"),
        (2.5, "must be an integer, got "),
        (True, "must be an integer, got a boolean"),
        ([3], "must be an integer, got an array"),
        (0, "must be at least 1, got 0"),
        (-2, "must be at least 1, got -2"),
        (SMALL_TOP_K + 1, f"over the limit of {SMALL_TOP_K}"),
    ],
)
def test_a_bad_top_k(digits_limited, top_k, reason) -> None:
    image = png(1)
    responses = [
        digits_limited.post("/predict", json={"image_data": b64(image), "top_k": top_k}),
        digits_limited.post("/predict", json={"images": [b64(image)], "top_k": top_k}),
    ]
    if not isinstance(top_k, bool | list) and top_k != "3":  # text is read as a number
        text = str(top_k)
        responses += [
            digits_limited.post(
                "/predict", files={"f": ("1.png", image, "image/png")}, data={"top_k": text}
            ),
            digits_limited.post(
                "/predict",
                params={"top_k": text},
                content=image,
                headers={"content-type": "image/png"},
            ),
        ]
    for response in responses:
        error = refused(response, 422, "invalid_parameter", "top_k")
        assert reason in error["message"], error


def test_a_body_over_the_limit(digits_limited) -> None:
    big = bytes(SMALL_IMAGE_BYTES + 1)
    for response in (
        digits_limited.post("/predict", json={"image_data": b64(big)}),
        digits_limited.post("/predict", files={"f": ("big.png", big, "image/png")}),
        digits_limited.post("/predict", content=big, headers={"content-type": "image/png"}),
    ):
        error = refused(response, 413, "body_too_large", None)
        assert f"{SMALL_IMAGE_BYTES}-byte limit" in error["message"]


def test_an_image_to_a_tabular_model_and_a_row_to_an_image_model(digits) -> None:
    image = refused(
        digits.post("/models/iris/predict", json={"image_data": b64(png(1))}),
        422,
        "invalid_feature",
        "image_data",
    )
    assert "takes tabular features, not images" in image["message"]
    upload = refused(
        digits.post("/models/iris/predict", files={"f": ("1.png", png(1), "image/png")}),
        422,
        "invalid_feature",
        "f",
    )
    assert "not images" in upload["message"]
    # the field names where the rows stood: the body itself (one record) or "records"
    for body, field in ((IRIS_ROW, "image_data"), ({"records": [IRIS_ROW]}, "records")):
        row = refused(digits.post("/predict", json=body), 422, "invalid_feature", field)
        assert "this model classifies images" in row["message"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"image_data": "x", "images": ["x"]}, "invalid_parameter", "images"),
        ({"image_data": "x", "colour": "red"}, "invalid_parameter", "colour"),
        ({"images": "x"}, "invalid_image", "images"),
        ({"images": []}, "empty_batch", "images"),
    ],
)
def test_malformed_image_requests(digits, body, code, field) -> None:
    refused(digits.post("/predict", json=body), 422, code, field)


def test_malformed_multipart(digits) -> None:
    refused(
        digits.post("/predict", files={"f": ("1.png", png(1), "image/png")}, data={"mood": "x"}),
        422,
        "invalid_parameter",
        "mood",
    )
    refused(
        digits.post("/predict", content=b"x", headers={"content-type": "multipart/form-data"}),
        415,
        "unsupported_media_type",
        "Content-Type",
    )
    refused(
        digits.post("/predict", data={"top_k": "2"}), 415, "unsupported_media_type", "Content-Type"
    )
