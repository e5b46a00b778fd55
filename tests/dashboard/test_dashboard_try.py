"""The pure parts of the "Try it" page: samples, the API's answers, the charts, the pickers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.dashboard.samples import list_samples, read_sample
from modelyard.dashboard.try_api import (
    Ranked,
    ServedModel,
    TopK,
    TryError,
    default_refs,
    image_models,
    list_image_models,
    parse_answer,
    predict,
    refusal,
    version_options,
)
from modelyard.dashboard.try_callbacks import decode_upload, on_try_page
from modelyard.dashboard.try_view import answer_caption, top_k_figure
from support import free_port

ANSWER = {
    "top_k": [
        {"label": "3", "index": 3, "probability": 0.91},
        {"label": "8", "index": 8, "probability": 0.06},
        {"label": "5", "index": 5, "probability": 0.02},
    ],
    "model": {"name": "digits", "version": "2", "ref": "champion"},
}


# --- samples ------------------------------------------------------------------------------
def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_samples_are_the_images_of_each_class_folder_in_order(tmp_path: Path) -> None:
    for name in ("7/b.png", "7/a.JPG", "1/z.jpeg", "1/notes.txt", "1/.hidden.png", "top.png"):
        _touch(tmp_path / name)
    _touch(tmp_path / ".cache" / "x.png")
    (tmp_path / "1" / "nested").mkdir()
    samples = list_samples(tmp_path)
    assert [s.name for s in samples] == ["1/z.jpeg", "7/a.JPG", "7/b.png"]
    assert [s.label for s in samples] == ["1", "7", "7"]
    assert samples[1].title == "7 · a.JPG"
    assert [s.mime for s in samples] == ["image/jpeg", "image/jpeg", "image/png"]
    assert [s.name for s in list_samples(tmp_path, limit=2)] == ["1/z.jpeg", "7/a.JPG"]
    # every class is offered, however many images the first ones hold
    assert [s.name for s in list_samples(tmp_path, per_class=1)] == ["1/z.jpeg", "7/a.JPG"]


def test_no_sample_folder_lists_nothing(tmp_path: Path) -> None:
    assert list_samples(tmp_path / "absent") == []
    _touch(tmp_path / "file.png")
    assert list_samples(tmp_path / "file.png") == []


def test_a_sample_is_read_by_its_name(tmp_path: Path) -> None:
    _touch(tmp_path / "samples" / "cat" / "one.png", b"\x89PNG...")
    sample, data = read_sample(tmp_path / "samples", "cat/one.png")
    assert (sample.label, sample.name, data) == ("cat", "cat/one.png", b"\x89PNG...")


@pytest.mark.parametrize(
    "name",
    [
        "../outside.png",
        "cat/../../outside.png",
        "cat/../dog/one.png",
        "cat/sub/one.png",
        "cat/.hidden.png",
        "cat/notes.txt",
        "cat/missing.png",
        "one.png",
        "/etc/passwd",
        "cat\\one.png",
        "link/outside.png",
    ],
)
def test_a_name_outside_the_samples_is_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "samples"
    _touch(root / "cat" / "one.png")
    _touch(root / "cat" / "sub" / "one.png")
    _touch(root / "cat" / ".hidden.png")
    _touch(root / "cat" / "notes.txt")
    _touch(tmp_path / "outside.png")
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(LookupError):
        read_sample(root, name)


# --- the API's answers --------------------------------------------------------------------
def test_image_models_are_read_from_the_service_info() -> None:
    info = {
        "models": [
            {"name": "digits", "version": "2", "aliases": ["champion"], "input_kind": "image",
             "classes": ["0", "1"], "ready": True},
            {"name": "iris", "version": "1", "aliases": [], "input_kind": "tabular",
             "classes": ["setosa"]},
            {"name": "cats", "ready": False, "ref": "champion"},
        ],
        "served": {
            "/v1/predict": {"name": "digits", "version": "1", "aliases": [],
                            "input_kind": "image", "classes": ["0", "1"]},
            "/v2/predict": {"name": "digits", "version": "2", "aliases": ["champion"],
                            "input_kind": "image", "classes": ["0", "1"]},
        },
    }  # fmt: skip
    assert image_models(info) == [
        ServedModel(name="digits", classes=("0", "1"), versions={"1": (), "2": ("champion",)})
    ]
    assert image_models({"models": []}) == []
    assert image_models(["not", "an", "object"]) == []


def test_an_answer_becomes_ranked_bars_in_its_order() -> None:
    answer = parse_answer(ANSWER, "digits", "champion", 12.5)
    assert answer.ranked == (Ranked("3", 0.91), Ranked("8", 0.06), Ranked("5", 0.02))
    assert (answer.name, answer.version, answer.ref, answer.latency_ms) == (
        "digits",
        "2",
        "champion",
        12.5,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"label": "3"}, "no top_k list"),
        ([], "no top_k list"),
        ({"top_k": [{"label": "3"}]}, "a label and a probability"),
        ({"top_k": [{"label": "3", "probability": "high"}]}, "not a number"),
        ({"top_k": [{"label": "3", "probability": True}]}, "not a number"),
    ],
)
def test_an_answer_of_another_shape_is_refused(body: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_answer(body, "digits", "1", 1.0)


def test_the_apis_error_is_quoted() -> None:
    error = {"error": {"code": "invalid_image", "message": "not an image", "field": "image_data"}}
    response = httpx.Response(422, json=error)
    assert refusal(response, "digits version 1: the API answered") == (
        "digits version 1: the API answered 422: not an image (invalid_image, field image_data)."
    )
    plain = httpx.Response(502, text="<html>\n bad   gateway </html>")
    assert refusal(plain, "x:") == "x: 502: <html> bad gateway </html>"


def test_an_api_that_does_not_answer_is_a_sentence() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with httpx.Client() as http:
        with pytest.raises(TryError, match=f"not answering at {dead}"):
            list_image_models(http, dead)
        with pytest.raises(TryError, match="not answering"):
            predict(http, dead, "digits", "1", b"\x89PNG")


# --- the chart and the caption ------------------------------------------------------------
def test_the_chart_draws_the_top_k_highest_first() -> None:
    answer = parse_answer(ANSWER, "digits", "champion", 3.25)
    fig = top_k_figure(answer)
    (bar,) = fig.data
    assert bar.orientation == "h"
    assert list(bar.y) == ["3", "8", "5"]
    assert list(bar.x) == [0.91, 0.06, 0.02]
    assert list(bar.text) == ["91.0%", "6.0%", "2.0%"]
    # numeric-looking labels stay categories, drawn top to bottom in the answer's order
    assert fig.layout.yaxis.type == "category"
    assert fig.layout.yaxis.autorange == "reversed"
    assert tuple(fig.layout.xaxis.range) == (0, 1.04)  # room for the 100% tick


def test_an_empty_answer_says_so() -> None:
    fig = top_k_figure(TopK(ranked=(), name="d", version="1", ref="1", latency_ms=1.0))
    assert fig.layout.annotations[0].text == "The answer holds no classes"


def test_the_caption_names_the_version_and_the_latency() -> None:
    caption = answer_caption(parse_answer(ANSWER, "digits", "champion", 3.25), "right")
    props = caption.to_plotly_json()["props"]
    assert props["id"] == "try-right-answer"
    assert props["data-version"] == "2"
    text = "".join(str(child.children) for child in caption.children)
    assert text == "digits v2 (asked for champion) · 3.2 ms round trip"


# --- the version pickers ------------------------------------------------------------------
def test_versions_list_aliases_first_then_every_version() -> None:
    served = ServedModel(name="digits", classes=(), versions={"2": ("champion",)})
    options = version_options(served, ["3", "2", "1", "10"], {"challenger": "3"})
    assert [o["value"] for o in options] == ["challenger", "champion", "1", "2", "3", "10"]
    assert [o["label"] for o in options] == [
        "challenger → v3",
        "champion → v2",
        "v1",
        "v2 (champion)",
        "v3 (challenger)",
        "v10",
    ]
    assert default_refs(options) == ("1", "champion")


def test_without_the_registry_the_apis_versions_are_offered() -> None:
    served = ServedModel(name="digits", classes=(), versions={"4": (), "5": ()})
    options = version_options(served)
    assert [o["value"] for o in options] == ["4", "5"]
    assert default_refs(options) == ("4", "5")
    assert default_refs([]) == (None, None)


# --- the page's plumbing ------------------------------------------------------------------
def test_an_upload_is_decoded_from_its_data_uri() -> None:
    data = b"\x89PNG\r\n"
    uri = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    assert decode_upload(uri) == (data, "image/png")
    assert decode_upload("data:;base64,eA==") == (b"x", "application/octet-stream")
    with pytest.raises(ValueError, match="not a data URI"):
        decode_upload("eA==")
    with pytest.raises(ValueError, match="not base64"):
        decode_upload("data:image/png;base64,***")


@pytest.mark.parametrize(
    ("path", "expected"), [("/try", True), ("/try/", True), ("/", False), (None, False)]
)
def test_the_try_page_is_at_its_own_address(path: str | None, expected: bool) -> None:
    assert on_try_page(path) is expected
