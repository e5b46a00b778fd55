"""Each protocol's decoder, fed what hypothesis makes up, fails only with a known error.

Every codec turns bytes or a parsed JSON document into inputs, which the model's input kind
then validates into a matrix; the chain either succeeds or raises an error that
:func:`~modelyard.serving.errors.known_error` maps to a 4xx/503 answer. Any other
exception would be a 500 for the client's mistake: a bug. The strategies stay near the
valid shapes (right keys, some right feature names, nested numbers, real images with
bytes flipped) so that the fuzz reaches past the first check of each decoder.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_models import IRIS, digit_image

from modelyard.config import Settings
from modelyard.inputs.image import ImagePreprocessing, ImageSpec, limit_pixels
from modelyard.inputs.tabular import FeatureSchema
from modelyard.serving.errors import known_error
from modelyard.serving.http import CSV, JSON
from modelyard.serving.protocols import images, kserve_v1, mlflow_scoring, open_inference, own

EXAMPLES = 150  # per decoder: the module stays within seconds
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
LIMIT = 20  # rows per request
TABULAR = FeatureSchema(IRIS)
NULLABLE = TABULAR.allowing_missing()
DIGITS = ImageSpec(ImagePreprocessing.from_params({"size": [8, 8], "mode": "L", "layout": "flat"}))
KINDS = (TABULAR, NULLABLE, DIGITS)


@pytest.fixture(scope="module", autouse=True)
def pixel_limit() -> Iterator[None]:
    """The server's pixel limit, as the engine sets it at start."""
    limit_pixels(Settings(_env_file=None).max_image_pixels)  # type: ignore[call-arg]
    yield


def to_json(value: Any) -> bytes:
    """``value`` as a JSON body; raw image bytes in it become base64 text."""
    return json.dumps(value, default=lambda raw: base64.b64encode(raw).decode()).encode()


def survives(decode: Callable[[], Any]) -> None:
    """Run ``decode``, then validate what it returns with every input kind; any exception
    must be one the API answers as a client error."""
    try:
        inputs = decode()
    except Exception as exc:
        assert known_error(exc) is not None, repr(exc)
        return
    if isinstance(inputs, own.Request):
        inputs = inputs.inputs
    elif isinstance(inputs, tuple):
        inputs = inputs[0]
    for kind in KINDS:
        try:
            kind.validate(inputs, LIMIT)
        except Exception as exc:
            assert known_error(exc) is not None, f"{type(kind).__name__}: {exc!r}"


# --- near-valid values -------------------------------------------------------------------------
odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["5.1", "nan", "inf", "", " ", "1e400", "0x10", "NaN"]),
)
numbers = st.one_of(st.floats(-100, 100), st.integers(-100, 100))
# mostly numbers, sometimes anything: a request that is valid but for a value or two
scalars = st.one_of(numbers, numbers, numbers, odd)
keys = st.one_of(st.sampled_from([*IRIS, "records", "image_data", "images", "top_k"]), st.text())
json_values = st.recursive(
    odd,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """An iris record, perhaps with a feature missing or one too many."""
    record = {name: draw(scalars) for name in IRIS}
    if draw(st.integers(0, 3)) == 0:
        record.pop(draw(st.sampled_from(IRIS)))
    if draw(st.integers(0, 3)) == 0:
        record[draw(st.text(max_size=6))] = draw(scalars)
    return record


@st.composite
def rows(draw: st.DrawFn) -> list[list[Any]]:
    """Rows of four values, one of them perhaps short or long."""
    width = st.sampled_from([4, 4, 4, 3, 5, 0])
    return [
        draw(st.lists(scalars, min_size=(n := draw(width)), max_size=n))
        for _ in range(draw(st.integers(0, 4)))
    ]


@st.composite
def images_bytes(draw: st.DrawFn) -> bytes:
    """A real encoded digit, kept, cut short or with bytes changed; or bytes of no image."""
    fmt = draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP"]))
    data = bytearray(digit_image(draw(st.integers(0, 9)), fmt, size=16))
    how = draw(st.sampled_from(["keep", "cut", "flip", "junk"]))
    if how == "cut":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "junk":
        return draw(st.binary(max_size=64))
    return bytes(data)


def b64(data: bytes) -> st.SearchStrategy[Any]:
    text = base64.b64encode(data).decode()
    return st.sampled_from([text, "data:image/png;base64," + text, text[:-1], text + "!", data])


image_items = images_bytes().flatmap(lambda data: st.one_of(b64(data), scalars))


# --- JSON records: our own protocol ------------------------------------------------------------
@FUZZ
@given(
    payload=st.one_of(
        json_values, records(), st.fixed_dictionaries({"records": st.lists(records(), max_size=4)})
    )
)
def test_own_json(payload: Any) -> None:
    survives(lambda: own.decode_body(JSON, {}, to_json(payload), None, 10))


@FUZZ
@given(body=st.binary(max_size=64), top_k=st.one_of(st.none(), st.text(max_size=4)))
def test_own_raw_bytes(body: bytes, top_k: str | None) -> None:
    survives(lambda: own.decode_body(JSON, {}, body, top_k, 10))
    survives(lambda: own.decode_body("image/png", {}, body, top_k, 10))


@FUZZ
@given(
    items=st.lists(image_items, max_size=3),
    single=image_items,
    top_k=st.one_of(scalars, st.integers(-5, 200)),
)
def test_own_base64_images(items: list[Any], single: Any, top_k: Any) -> None:
    survives(lambda: own.decode({"images": items, "top_k": top_k}))
    survives(lambda: own.decode({"image_data": single}))


@FUZZ
@given(image=images_bytes(), top_k=st.text(max_size=4), junk=st.binary(max_size=32))
def test_own_multipart(image: bytes, top_k: str, junk: bytes) -> None:
    boundary = "fuzzboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + image
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n'.encode()
        + top_k.encode()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    survives(lambda: own.decode_body("multipart/form-data", {"boundary": boundary}, body, None, 10))
    cut = body[: len(body) // 2] + junk
    survives(lambda: own.decode_body("multipart/form-data", {"boundary": boundary}, cut, None, 10))


# --- MLflow scoring: JSON layouts and CSV ------------------------------------------------------
@FUZZ
@given(
    key=st.sampled_from(mlflow_scoring.FORMATS),
    data=st.one_of(
        json_values,
        rows(),
        st.lists(records(), max_size=4),
        st.fixed_dictionaries({"columns": st.lists(keys, max_size=5), "data": rows()}),
        st.lists(st.fixed_dictionaries({"b64": image_items}), max_size=3),
        st.fixed_dictionaries({"image_data": st.lists(image_items, max_size=3)}),
    ),
    params=st.one_of(st.none(), json_values, st.fixed_dictionaries({"top_k": scalars})),
)
def test_mlflow_json(key: str, data: Any, params: Any) -> None:
    body = to_json({key: data, "params": params})
    survives(lambda: mlflow_scoring.decode(JSON, body))


cells = st.one_of(
    numbers.map(str),
    numbers.map(str),
    st.sampled_from(["", " ", "nan", "a", '"q"', "1e999"]),
    st.text(),
)


@st.composite
def csv_documents(draw: st.DrawFn) -> str:
    """A header of some feature names and rows of as many cells (a few rows ragged)."""
    header = list(draw(st.permutations(IRIS)))
    if draw(st.booleans()):
        header = draw(st.lists(st.sampled_from([*IRIS, "x", ""]), min_size=1, max_size=6))
    width = st.just(len(header)) if draw(st.booleans()) else st.integers(0, 7)
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 4))):
        lines.append(",".join(draw(st.lists(cells, min_size=(n := draw(width)), max_size=n))))
    return "\n".join(lines) + "\n"


@FUZZ
@given(document=csv_documents(), raw=st.binary(max_size=48))
def test_mlflow_csv(document: str, raw: bytes) -> None:
    survives(lambda: mlflow_scoring.decode(CSV, document.encode()))
    survives(lambda: mlflow_scoring.decode(CSV, raw))


# --- KServe V1 instances -----------------------------------------------------------------------
@FUZZ
@given(
    instances=st.one_of(
        json_values,
        rows(),
        st.lists(records(), max_size=4),
        st.lists(st.fixed_dictionaries({"b64": image_items}), max_size=3),
    ),
    top_k=st.one_of(st.none(), st.none(), scalars),
)
def test_kserve_v1(instances: Any, top_k: Any) -> None:
    payload = {"instances": instances, "top_k": top_k}

    def decode() -> Any:
        inputs = kserve_v1.decode(payload)
        kserve_v1.top_k(payload, 10)
        return inputs

    survives(decode)


# --- Open Inference Protocol (V2) tensors, JSON and binary -------------------------------------
@st.composite
def tensors(draw: st.DrawFn) -> list[dict[str, Any]]:
    """V2 ``inputs``: one [rows, 4] FP64 tensor, or one [rows] tensor per feature, or a
    BYTES tensor of images; then perhaps one part of one tensor changed."""
    n = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["matrix", "columns", "images"]))
    if layout == "matrix":
        found = [
            {
                "name": "input-0",
                "datatype": "FP64",
                "shape": [n, 4],
                "data": [[draw(scalars) for _ in IRIS] for _ in range(n)],
            }
        ]
    elif layout == "columns":
        found = [
            {
                "name": name,
                "datatype": "FP64",
                "shape": [n],
                "data": [draw(scalars) for _ in range(n)],
            }
            for name in IRIS
        ]
    else:
        found = [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [n],
                "data": [draw(image_items) for _ in range(n)],
            }
        ]
    part = draw(st.sampled_from(["none", "name", "datatype", "shape", "data", "drop", "add"]))
    victim = draw(st.sampled_from(found))
    if part == "drop":
        found.remove(victim)
    elif part == "add":
        found.append(dict(victim))
    elif part != "none":
        changes = {
            "name": st.one_of(st.sampled_from([*IRIS, "input-0"]), odd),
            "datatype": st.sampled_from(["FP32", "INT64", "BOOL", "BYTES", "FP16", "UINT8", "X"]),
            "shape": st.one_of(st.lists(st.integers(-1, 5), max_size=3), json_values),
            "data": json_values,
        }
        victim[part] = draw(changes[part])
    return found


outputs = st.lists(
    st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(list(open_inference.OUTPUTS)), scalars)},
        optional={
            "parameters": st.dictionaries(
                st.sampled_from(["classification", "binary_data"]), scalars, max_size=2
            )
        },
    ),
    max_size=3,
)


@FUZZ
@given(
    inputs=st.one_of(tensors(), tensors(), json_values),
    wanted=st.one_of(st.none(), outputs),
)
def test_open_inference_json(inputs: Any, wanted: Any) -> None:
    payload = {"inputs": inputs, "outputs": wanted}
    body = to_json(payload)

    def decode(kind: Any) -> Callable[[], Any]:
        def run() -> Any:
            parsed = open_inference.parse_json(body)
            found, asked = open_inference.decode(parsed, kind)
            open_inference.limit_classification(asked, 10)
            open_inference.binary_outputs(parsed)
            return found

        return run

    for kind in KINDS:
        survives(decode(kind))


@st.composite
def binary_requests(draw: st.DrawFn) -> tuple[bytes, str]:
    """A binary-data request: a JSON header whose tensors give ``binary_data_size``, the
    tensors' bytes after it, and the header's length; perhaps with one of them wrong."""
    import numpy as np

    tensors_ = draw(tensors())
    blobs = []
    for t in tensors_ if isinstance(tensors_, list) else []:
        data = t.pop("data", None)
        if t.get("datatype") == "BYTES":
            items = [i if isinstance(i, bytes) else str(i).encode() for i in data or []]
            blob = b"".join(len(i).to_bytes(4, "little") + i for i in items)
        else:
            try:  # the values as FP64, or some other number of them
                blob = np.asarray(data, dtype="<f8").ravel().tobytes()
            except (TypeError, ValueError, OverflowError):
                blob = np.asarray(draw(st.lists(st.floats(-9, 9), max_size=12))).tobytes()
        t["parameters"] = {"binary_data_size": len(blob)}
        blobs.append(blob)
    head = to_json({"inputs": tensors_})
    tail = b"".join(blobs)
    length = str(len(head))
    wrong = draw(st.sampled_from(["none", "none", "length", "tail", "size"]))
    if wrong == "length":
        length = draw(st.one_of(st.text(max_size=4), st.integers(-2, len(head) + 9).map(str)))
    elif wrong == "tail":
        tail = tail[: draw(st.integers(0, len(tail)))] + draw(st.binary(max_size=9))
    elif wrong == "size" and tensors_:
        tensors_[0]["parameters"]["binary_data_size"] = draw(st.one_of(odd, st.integers(-2, 99)))
        head = to_json({"inputs": tensors_})
        length = str(len(head))
    return head + tail, length


@FUZZ
@given(request=binary_requests())
def test_open_inference_binary(request: tuple[bytes, str]) -> None:
    body, length = request
    for kind in KINDS:
        survives(
            lambda kind=kind: open_inference.decode(open_inference.split_binary(body, length), kind)
        )


def test_every_codec_is_fuzzed() -> None:
    """A new protocol module gets a fuzz test here too."""
    import pkgutil

    from modelyard.serving import protocols

    fuzzed = {own, mlflow_scoring, kserve_v1, open_inference, images}
    modules = {info.name for info in pkgutil.iter_modules(protocols.__path__)}
    assert modules == {m.__name__.rsplit(".", 1)[1] for m in fuzzed}
