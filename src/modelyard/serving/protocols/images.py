"""What every protocol does the same way for image classifiers: the ``top_k`` parameter,
the ranked classes of an answer, and the body forms that carry encoded images
(``multipart/form-data`` file parts, a raw ``image/*`` body).

Pure functions: bytes and decoded JSON in, :class:`~modelyard.inputs.image.Images` and
answer fragments out; refusals are :class:`~modelyard.serving.errors.ApiError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.inputs.image import Images
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError
from modelyard.serving.http import MULTIPART

TOP_K = "top_k"
DEFAULT_TOP_K = 5
BODY_FIELD = "body"  # where a raw image/* body stands, in error messages
FILES_FIELD = "files"  # multipart file parts of several names
_INTEGER = re.compile(r"[+-]?\d{1,18}")


# --- top_k ---------------------------------------------------------------------------------
def top_k(value: Any, limit: int, name: str = TOP_K, *, text: bool = False) -> int:
    """The number of classes to answer: an integer in [1, ``limit``] (a JSON number, or with
    ``text`` the text of a query parameter or form field); :data:`DEFAULT_TOP_K` when
    absent."""
    if value is None:
        return DEFAULT_TOP_K
    if text and isinstance(value, str):
        digits = value.strip()
        if not _INTEGER.fullmatch(digits):
            raise _bad_k(f"{name} must be an integer, got {value!r}", name)
        value = int(digits)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise _bad_k(f"{name} must be an integer, got {_json_type(value)}", name)
    if value < 1:
        raise _bad_k(f"{name} must be at least 1, got {value}", name)
    if value > limit:
        raise _bad_k(f"{name} is {value}, over the limit of {limit} (MODELYARD_MAX_TOP_K)", name)
    return value


def _bad_k(message: str, name: str) -> ApiError:
    return ApiError("invalid_parameter", message, name, names_field=True)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"{value!r}"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- answers -------------------------------------------------------------------------------
def ranked(prediction: Prediction, k: int) -> list[list[dict[str, Any]]]:
    """Per image, the ``k`` most probable classes (at most all of them), highest first:
    ``{"label", "index", "probability"}`` each, ``index`` the class's position in the
    model's classes."""
    classes = [str(c) for c in prediction.model.classes]
    proba = prediction.probabilities
    if proba is None:  # a model without class scores: its label alone
        return [
            [{"label": str(label), "index": _index(classes, label), "probability": None}]
            for label in prediction.labels
        ]
    k = min(k, proba.shape[1])
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return [
        [{"label": classes[j], "index": j, "probability": float(row[j])} for j in top.tolist()]
        for row, top in zip(proba, order, strict=True)
    ]


def _index(classes: list[str], label: Any) -> int | None:
    try:
        return classes.index(str(label))
    except ValueError:
        return None


# --- bodies --------------------------------------------------------------------------------
B64 = "b64"


def b64_instances(data: list[Any], field_name: str) -> Images:
    """TensorFlow Serving's binary instances ``[{"b64": "<base64>"}, ...]`` as images; any
    other instance is refused by row."""
    items: list[Any] = []
    for row, instance in enumerate(data):
        if not (isinstance(instance, dict) and set(instance) == {B64}):
            raise ApiError(
                "invalid_image",
                f'row {row}: an image instance is an object {{"b64": "<base64 image>"}}',
                field_name,
                row,
            )
        items.append(instance[B64])
    return Images(items, field_name)


def is_b64_instances(data: Any) -> bool:
    """Whether ``instances`` are images: a list whose first item is a ``{"b64": ...}``."""
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and B64 in data[0]


def raw_image(body: bytes) -> Images:
    """A raw ``image/*`` body: one image."""
    return Images([body], BODY_FIELD, single=True)


@dataclass
class Form:
    """A ``multipart/form-data`` body: its file parts (name, bytes) and text fields."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def images(self) -> Images:
        """The file parts as images: one part is a single image, more a batch. Errors name
        the part (and its position, in a batch)."""
        names = {name for name, _ in self.files}
        name = names.pop() if len(names) == 1 else FILES_FIELD
        return Images([data for _, data in self.files], name, single=len(self.files) == 1)


def parse_form(body: bytes, params: dict[str, str], allowed_fields: tuple[str, ...]) -> Form:
    """The parts of a ``multipart/form-data`` body (``params``: its Content-Type's).

    A part with a ``filename`` (or a non-text Content-Type) is a file; any other is a text
    field, which must be one of ``allowed_fields``.
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    boundary = params.get("boundary")
    if not boundary:
        raise ApiError(
            "unsupported_media_type",
            f"{MULTIPART} needs a boundary parameter in the Content-Type header",
            "Content-Type",
        )
    form = Form()
    headers: dict[str, str] = {}
    header_name: list[bytes] = []
    header_value: list[bytes] = []
    data: list[bytes] = []

    def on_part_begin() -> None:
        headers.clear()
        data.clear()

    def on_header_field(chunk: bytes, start: int, end: int) -> None:
        header_name.append(chunk[start:end])

    def on_header_value(chunk: bytes, start: int, end: int) -> None:
        header_value.append(chunk[start:end])

    def on_header_end() -> None:
        key = b"".join(header_name).decode("latin-1").lower()
        headers[key] = b"".join(header_value).decode("latin-1")
        header_name.clear()
        header_value.clear()

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        data.append(chunk[start:end])

    def on_part_end() -> None:
        disposition, options = parse_options_header(headers.get("content-disposition", ""))
        if disposition != b"form-data" or b"name" not in options:
            raise ApiError(
                "bad_request", "every multipart part needs Content-Disposition: form-data; name="
            )
        name = options[b"name"].decode("utf-8", "replace")
        part_type = headers.get("content-type", "").split(";")[0].strip().lower()
        value = b"".join(data)
        if b"filename" in options or (part_type and not part_type.startswith("text/")):
            form.files.append((name, value))
            return
        if name not in allowed_fields:
            raise ApiError(
                "invalid_parameter",
                f"unexpected form field; send image files (parts with a filename) and "
                f"optionally {', '.join(allowed_fields)}",
                name,
            )
        try:
            form.fields[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError("invalid_parameter", "the field is not UTF-8 text", name) from None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError("bad_request", f"malformed multipart/form-data body: {exc}") from None
    return form
