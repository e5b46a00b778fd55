"""Open Inference Protocol (KServe V2) with an image classifier: a BYTES tensor of images,
as base64 strings in JSON or through the binary data extension, the classification
extension (``"score:index:label"``), binary outputs on request, and every refusal
``{"error": "..."}`` (400 for bad input, 413 for a large body)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from image_samples import BAD_IMAGES, SMALL_IMAGE_BYTES, SMALL_TOP_K, b64, jpeg, png
from serving_support import IRIS_ROW

INFER = "/v2/models/digits/infer"
TOP_3 = [{"name": "predict_proba", "parameters": {"classification": 3}}]


def refused(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert "x-model-version" not in response.headers
    body = response.json()
    assert set(body) == {"error"}
    return str(body["error"])


def tensor(*images: bytes, name: str = "image", shape: list[int] | None = None) -> dict:
    return {
        "name": name,
        "shape": shape or [len(images)],
        "datatype": "BYTES",
        "data": [b64(image) for image in images],
    }


def elements(*items: bytes) -> bytes:
    """BYTES elements as the binary data extension lays them out."""
    return b"".join(len(item).to_bytes(4, "little") + item for item in items)


def binary_request(header: dict, blob: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head))}


def split_binary_answer(response: Any) -> tuple[dict, bytes]:
    length = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:length]), response.content[length:]


def classes(output: dict) -> list[tuple[float, str, str]]:
    parsed = []
    for item in output["data"]:
        score, index, label = item.split(":")
        parsed.append((float(score), index, label))
    return parsed


# --- answers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "version"),
    [
        (INFER, "2"),
        ("/v2/models/digits/versions/1/infer", "1"),
        ("/v2/models/digits/versions/champion/infer", "2"),
    ],
)
def test_base64_images_with_classification(digits, path, version) -> None:
    payload = {"id": "req-1", "inputs": [tensor(png(3), jpeg(7))], "outputs": TOP_3}
    response = digits.post(path, json=payload)
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == version
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("digits", version, "req-1")
    [output] = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (
        "predict_proba",
        "BYTES",
        [2, 3],
    )
    ranked = classes(output)
    assert [(index, label) for _, index, label in ranked[::3]] == [("3", "3"), ("7", "7")]
    for row in (ranked[:3], ranked[3:]):
        scores = [score for score, _, _ in row]
        assert scores == sorted(scores, reverse=True)


def test_default_outputs_and_shape_n_by_1(digits) -> None:
    response = digits.post(INFER, json={"inputs": [tensor(png(5), shape=[1, 1])]})
    assert response.status_code == 200, response.text
    labels, proba = response.json()["outputs"]
    assert (labels["name"], labels["data"]) == ("predict", [5])
    assert (proba["name"], proba["datatype"], proba["shape"]) == ("predict_proba", "FP64", [1, 10])
    assert sum(proba["data"]) == pytest.approx(1, abs=1e-4)


def test_classification_is_capped_at_the_number_of_classes(digits) -> None:
    outputs = [{"name": "predict_proba", "parameters": {"classification": 50}}]
    response = digits.post(INFER, json={"inputs": [tensor(png(1))], "outputs": outputs})
    assert response.json()["outputs"][0]["shape"] == [1, 10]


def test_the_binary_data_extension(digits) -> None:
    blob = elements(png(4), jpeg(9))
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(blob)},
            }
        ],
        "outputs": TOP_3,
    }
    body, headers = binary_request(header, blob)
    for content_type in (None, "application/octet-stream", "application/json"):
        sent = dict(headers) if content_type is None else {**headers, "content-type": content_type}
        response = digits.post(INFER, content=body, headers=sent)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        ranked = classes(response.json()["outputs"][0])
        assert [label for _, _, label in ranked[::3]] == ["4", "9"]


def test_binary_outputs_on_request(digits) -> None:
    blob = elements(png(6))
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(blob)},
            }
        ],
        "outputs": [
            {"name": "predict_proba", "parameters": {"classification": 2, "binary_data": True}},
            {"name": "predict"},
        ],
    }
    body, headers = binary_request(header, blob)
    response = digits.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-model-version"] == "2"
    answer, data = split_binary_answer(response)
    top, labels = answer["outputs"]
    assert "data" not in top and top["parameters"]["binary_data_size"] == len(data)
    assert labels["data"] == [6]
    first = int.from_bytes(data[:4], "little")
    assert data[4 : 4 + first].decode().endswith(":6:6")
    everything = digits.post(
        INFER,
        json={"inputs": [tensor(png(6))], "parameters": {"binary_data_output": True}},
    )
    answer, data = split_binary_answer(everything)
    labels, proba = answer["outputs"]
    assert labels["parameters"]["binary_data_size"] == 8  # one INT64
    assert proba["parameters"]["binary_data_size"] == 10 * 8  # ten FP64
    assert len(data) == 88 and int.from_bytes(data[:8], "little") == 6


def test_metadata_describes_an_image_input(digits) -> None:
    body = digits.get("/v2/models/digits").json()
    assert body["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert body["parameters"]["classes"] == [str(d) for d in range(10)]


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BAD_IMAGES)
def test_bad_images(digits, bad, name) -> None:
    data, reason = bad[name]
    message = refused(digits.post(INFER, json={"inputs": [tensor(png(1), data)]}), 400)
    assert message.startswith("row 1, field 'image': ") and reason in message
    blob = elements(data)
    header = {
        "inputs": [
            {
                "name": "pic",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(blob)},
            }
        ]
    }
    body, headers = binary_request(header, blob)
    message = refused(digits.post(INFER, content=body, headers=headers), 400)
    assert message.startswith("row 0, field 'pic': ") and reason in message


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["%%%"]}], "invalid base64"),
        ([{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["x"]}], "needs 2 values"),
        (
            [{"name": "image", "shape": [1, 2], "datatype": "BYTES", "data": ["x", "y"]}],
            "[images, 1]",
        ),
        (
            [tensor(png(1)), {"name": "b", "shape": [1], "datatype": "FP32", "data": [1]}],
            "one input",
        ),
        ([{"name": "image", "shape": [1], "datatype": "BYTES", "data": [3]}], "as a string"),
    ],
)
def test_bad_image_tensors(digits, inputs, message) -> None:
    assert message in refused(digits.post(INFER, json={"inputs": inputs}), 400)


@pytest.mark.parametrize(
    ("header_length", "blob_extra", "message"),
    [
        ("abc", b"", "Inference-Header-Content-Length must be"),
        ("999999", b"", "Inference-Header-Content-Length must be"),
        (None, b"\x00", "1 bytes of binary data belong to no input"),
    ],
)
def test_bad_binary_requests(digits, header_length, blob_extra, message) -> None:
    blob = elements(png(1))
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(blob)},
            }
        ]
    }
    body, headers = binary_request(header, blob + blob_extra)
    if header_length is not None:
        headers = {"Inference-Header-Content-Length": header_length}
    assert message in refused(digits.post(INFER, content=body, headers=headers), 400)


def test_truncated_binary_elements(digits) -> None:
    blob = elements(png(1))[:-10] + b""
    cut = len(blob)
    header = {
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": cut},
            }
        ]
    }
    body, headers = binary_request(header, blob)
    assert "BYTES element 0 says" in refused(digits.post(INFER, content=body, headers=headers), 400)
    header["inputs"][0]["parameters"]["binary_data_size"] = cut + 5
    body, headers = binary_request(header, blob)
    assert "bytes of binary data are left" in refused(
        digits.post(INFER, content=body, headers=headers), 400
    )


@pytest.mark.parametrize(
    ("k", "reason"),
    [(0, "positive integer"), ("2", "positive integer"), (SMALL_TOP_K + 1, "over the limit")],
)
def test_a_bad_classification_k(digits_limited, k, reason) -> None:
    outputs = [{"name": "predict_proba", "parameters": {"classification": k}}]
    message = refused(
        digits_limited.post(INFER, json={"inputs": [tensor(png(1))], "outputs": outputs}), 400
    )
    assert reason in message


def test_a_body_over_the_limit(digits_limited) -> None:
    big = {"inputs": [tensor(bytes(SMALL_IMAGE_BYTES))]}
    assert f"{SMALL_IMAGE_BYTES}-byte limit" in refused(digits_limited.post(INFER, json=big), 413)


def test_an_image_to_a_tabular_model_and_a_row_to_an_image_model(digits) -> None:
    image = refused(digits.post("/v2/models/iris/infer", json={"inputs": [tensor(png(1))]}), 400)
    assert image.startswith("field 'image': this model takes tabular features, not images")
    row = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": list(IRIS_ROW.values())}
    message = refused(digits.post(INFER, json={"inputs": [row]}), 400)
    assert message.startswith("input-0: this model classifies images: send one BYTES tensor")
    tabular = digits.post("/v2/models/iris/infer", json={"inputs": [row]})
    assert tabular.json()["outputs"][0]["data"] == ["setosa"]


def test_the_openapi_image_example_is_answered(digits) -> None:
    spec = digits.get("/openapi.json").json()
    content = spec["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    example = content["application/json"]["examples"]["image_top_3"]["value"]
    response = digits.post(INFER, json=example)
    assert response.status_code == 200, response.text
    assert classes(response.json()["outputs"][0])[0][2] == "3"
