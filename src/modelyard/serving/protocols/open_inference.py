"""Open Inference Protocol (KServe V2) over REST, with the classification extension.

Inputs are either one tensor of shape ``[rows, features]`` (features in the order of
``GET /v2/models/{name}``) or one tensor per feature, named after it, of shape ``[rows]``
or ``[rows, 1]``. Outputs: ``predict`` (labels) and ``predict_proba`` (``[rows, classes]``);
both by default. ``outputs[i].parameters.classification = k`` turns that output into the
top-k ``"score:index:label"`` strings. Errors: ``{"error": "..."}``.

Image classifiers take one ``BYTES`` tensor of shape ``[n]`` (or ``[n, 1]``) of encoded
images: base64 strings in JSON ``data`` (a ``data:`` URI allowed), or raw bytes through the
binary data extension. With that extension the body is the JSON header (its length in the
``Inference-Header-Content-Length`` header) followed by the binary data of every input whose
``parameters.binary_data_size`` is set, in order; a BYTES element there is a 4-byte
little-endian length and its bytes. The outputs are the same (``predict_proba`` with
``classification`` k is the top-k), at most ``MODELYARD_MAX_TOP_K`` classes. An output with
``parameters.binary_data`` (or every output, with ``parameters.binary_data_output`` on the
request) is answered in binary the same way (``application/octet-stream``).

A missing value of a feature the model handles missing (one it imputes, or a boosted
model's) is a JSON ``null`` in ``data``; in binary data, which has no null, a floating-point
NaN is one. Either becomes NaN for the model, and is refused for any other feature.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from modelyard.inference.model import LoadedModel
from modelyard.inputs import InputKind
from modelyard.inputs.image import Images
from modelyard.inputs.tabular import Columns, FeatureSchema, Rows, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError, protocol_status
from modelyard.serving.http import Reply, json_reply, parse_json
from modelyard.serving.protocols import images

Wanted = list[tuple[str, int | None]]  # (output name, classification k or None)

NUMERIC_TYPES = {
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
}
OUTPUTS = ("predict", "predict_proba")
BYTES = "BYTES"
BINARY_HEADER = "Inference-Header-Content-Length"
IMAGE_INPUT = "image"  # the input an image model's metadata names (any name is taken)
# Little-endian numpy types of the binary data extension's tensors.
BINARY_DTYPES = {
    "BOOL": "?",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
}


def render(error: ApiError) -> Reply:
    """The error shape of V2 and KServe V1: ``{"error": "<field>: <message>"}``."""
    return json_reply({"error": error.described()}, protocol_status(error))


def bad(message: str) -> ApiError:
    return ApiError("bad_request", message)


# --- inputs ------------------------------------------------------------------------------
def _flatten(data: Any, name: str) -> list[Any]:
    """Tensor data, flat or nested, as one row-major list."""
    if not isinstance(data, list):
        raise bad(f"input {name!r}: 'data' must be a list")
    if not data or not isinstance(data[0], list):
        return data
    flat: list[Any] = []

    def walk(values: list[Any]) -> None:
        for value in values:
            if isinstance(value, list):
                walk(value)
            else:
                flat.append(value)

    walk(data)
    return flat


def _tensor(
    tensor: Any, index: int, datatypes: frozenset[str] | set[str] = NUMERIC_TYPES
) -> tuple[str, list[int], str, list[Any]]:
    if not isinstance(tensor, Mapping):
        raise bad(f"inputs[{index}] must be an object with name, shape, datatype and data")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
    if missing:
        raise bad(f"inputs[{index}] lacks {', '.join(missing)}")
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if not isinstance(name, str):
        raise bad(f"inputs[{index}].name must be a string")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape) and shape):
        raise bad(f"input {name!r}: shape must be a list of non-negative integers")
    if datatype not in datatypes:
        raise bad(
            f"input {name!r}: datatype {datatype!r} is not supported; "
            f"use one of {sorted(datatypes)}"
        )
    flat = _flatten(tensor["data"], name)
    if len(flat) != math.prod(shape):
        raise bad(
            f"input {name!r}: shape {shape} needs {math.prod(shape)} values, data has {len(flat)}"
        )
    return name, shape, datatype, flat


def tensor_inputs(names: tuple[str, ...], inputs: Any, strings: bool = False) -> TabularInput:
    """The layout V2 ``inputs`` hold for features ``names``: one [rows, features] tensor
    (positional rows), or one [rows] or [rows, 1] tensor per feature (columns). With
    ``strings`` (a model with categorical features) a tensor may be BYTES: its elements are
    the categories, as UTF-8 text."""
    if not isinstance(inputs, list) or not inputs:
        raise bad("'inputs' must be a non-empty list of tensors")
    allowed = NUMERIC_TYPES | {BYTES} if strings else NUMERIC_TYPES
    tensors = [_text(_tensor(t, i, allowed)) for i, t in enumerate(inputs)]
    width = len(names)
    if len(tensors) == 1 and not (width == 1 and tensors[0][0] == names[0]):
        name, shape, _, flat = tensors[0]
        if len(shape) != 2 or shape[1] != width:
            raise bad(
                f"input {name!r}: shape must be [rows, {width}] (features {list(names)}), "
                f"got {shape}"
            )
        return Rows([flat[i : i + width] for i in range(0, len(flat), width)], name)
    columns = {t[0]: t[3] for t in tensors}
    if len(columns) != len(tensors):
        raise bad("two inputs have the same name")
    rows = -1
    for name, shape, _, _ in tensors:
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise bad(f"input {name!r}: shape must be [rows] or [rows, 1], got {shape}")
        if rows not in (-1, shape[0]):
            raise bad(f"input {name!r} has {shape[0]} rows, other inputs have {rows}")
        rows = shape[0]
    return Columns(columns, "inputs", noun="input tensor")


def _text(
    tensor: tuple[str, list[int], str, list[Any]],
) -> tuple[str, list[int], str, list[Any]]:
    """A BYTES tensor's elements as text (the binary extension gives them as bytes)."""
    name, shape, datatype, flat = tensor
    if datatype != BYTES:
        return tensor
    try:
        text = [bytes(v).decode("utf-8") if not isinstance(v, str) else v for v in flat]
    except (TypeError, ValueError) as exc:
        raise bad(f"input {name!r}: BYTES elements must be UTF-8 text") from exc
    return name, shape, datatype, text


# --- outputs -----------------------------------------------------------------------------
def _label_tensor(name: str, labels: list[Any]) -> dict[str, Any]:
    """Labels as a tensor of their type (numpy's scalars, as models give them, included)."""
    if all(isinstance(v, bool | np.bool_) for v in labels):
        datatype = "BOOL"
    elif all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
        datatype = "INT64"
    elif all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in labels):
        datatype = "FP64"
    else:
        datatype, labels = "BYTES", [str(v) for v in labels]
    return {"name": name, "shape": [len(labels)], "datatype": datatype, "data": labels}


def _top_k(prediction: Prediction, k: int, name: str) -> dict[str, Any]:
    proba = prediction.probabilities
    if proba is None:
        raise bad(f"output {name!r}: this model gives no class scores to classify")
    classes = [str(c) for c in prediction.model.classes]
    k = min(k, len(classes))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    data = [f"{proba[i, j]:.6f}:{j}:{classes[j]}" for i in range(proba.shape[0]) for j in order[i]]
    return {"name": name, "shape": [proba.shape[0], k], "datatype": "BYTES", "data": data}


def requested_outputs(payload: Mapping[str, Any]) -> Wanted:
    """(name, classification k or None) per requested output; both outputs by default."""
    outputs = payload.get("outputs")
    if outputs is None:
        return [(name, None) for name in OUTPUTS]
    if not isinstance(outputs, list) or not outputs:
        raise bad("'outputs' must be a non-empty list")
    out: list[tuple[str, int | None]] = []
    for i, spec in enumerate(outputs):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise bad(f"outputs[{i}] must be an object with a name")
        name = spec["name"]
        if name not in OUTPUTS:
            raise bad(f"unknown output {name!r}; this model has {list(OUTPUTS)}")
        params = spec.get("parameters") or {}
        if not isinstance(params, Mapping):
            raise bad(f"output {name!r}: parameters must be an object")
        k = params.get("classification")
        if k is not None and (type(k) is not int or k < 1):
            raise bad(f"output {name!r}: classification must be a positive integer")
        out.append((name, k))
    return out


def build_outputs(prediction: Prediction, wanted: Wanted) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, k in wanted:
        if k is not None:
            out.append(_top_k(prediction, k, name))
        elif name == "predict":
            out.append(_label_tensor(name, prediction.labels))
        elif prediction.probabilities is not None:
            proba = prediction.probabilities
            out.append(
                {
                    "name": name,
                    "shape": list(proba.shape),
                    "datatype": "FP64",
                    "data": proba.reshape(-1),
                }
            )
    return out


# --- metadata ----------------------------------------------------------------------------
def metadata(model: LoadedModel, versions: list[str]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's tensors, versions and classes."""
    classes = [str(c) for c in model.classes]
    schema = model.schema
    inputs = (
        [
            {"name": n, "datatype": BYTES if n in schema.categories else "FP64", "shape": [-1]}
            for n in schema.names
        ]
        if isinstance(schema, FeatureSchema)
        else [{"name": IMAGE_INPUT, "datatype": BYTES, "shape": [-1]}]
    )
    return {
        "name": model.name,
        "versions": versions,
        "platform": model.flavor,
        "inputs": inputs,
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]},
        ],
        "parameters": {
            "version": model.version,
            "resolved": model.info.resolved,
            "aliases": list(model.info.aliases),
            "classes": classes,
            "run_id": model.info.run_id,
        },
    }


def decode(payload: Any, kind: InputKind[Any]) -> tuple[TabularInput | Images, Wanted]:
    """The inputs of an inference request for a model of input ``kind``, and the outputs
    wanted. A BYTES tensor is images (which a tabular model's kind then refuses)."""
    if not isinstance(payload, dict):
        raise bad("the body must be a JSON object with 'inputs'")
    wanted = requested_outputs(payload)
    inputs = payload.get("inputs")
    if isinstance(kind, FeatureSchema):
        if kind.categorical:  # BYTES tensors are its categories
            return tensor_inputs(kind.names, inputs, strings=True), wanted
        try:
            found = image_inputs(inputs)
        except ApiError:  # not a well-formed image tensor: refused as a bad tabular tensor
            found = None
        if found is not None:
            return found, wanted
        return tensor_inputs(kind.names, inputs), wanted
    found = image_inputs(inputs)
    if found is None:
        first = inputs[0] if isinstance(inputs, list) and inputs else None
        name = first.get("name") if isinstance(first, Mapping) else None
        raise ApiError(
            "invalid_feature",
            f"this model classifies {kind.kind}s: send one BYTES tensor of encoded images "
            "(base64 strings, or the binary data extension)",
            str(name) if isinstance(name, str) else "inputs",
        )
    return found, wanted


def image_inputs(inputs: Any) -> Images | None:
    """The images of a request whose inputs hold a BYTES tensor; None when none does."""
    if not isinstance(inputs, list) or not any(
        isinstance(t, Mapping) and t.get("datatype") == BYTES for t in inputs
    ):
        return None
    if len(inputs) != 1:
        raise bad("an image request has one input: a BYTES tensor of encoded images")
    name, shape, _, flat = _tensor(inputs[0], 0, {BYTES})
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise bad(f"input {name!r}: shape must be [images] or [images, 1], got {shape}")
    return Images(flat, name)


def limit_classification(wanted: Wanted, limit: int) -> None:
    """Refuse a ``classification`` k over ``limit`` (image requests: MODELYARD_MAX_TOP_K)."""
    for name, k in wanted:
        if k is not None:
            images.top_k(k, limit, f"outputs[{name!r}].parameters.classification")


def encode(prediction: Prediction, wanted: Wanted, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The inference response; the request's ``id`` and ``parameters`` are echoed."""
    body: dict[str, Any] = {
        "model_name": prediction.model.name,
        "model_version": prediction.model.version,
        "id": str(payload.get("id") or uuid.uuid4()),
        "outputs": build_outputs(prediction, wanted),
    }
    if isinstance(payload.get("parameters"), dict):
        body["parameters"] = payload["parameters"]
    return body


# --- the binary data extension ---------------------------------------------------------------
def split_binary(body: bytes, header_length: str) -> Any:
    """The JSON header of a binary request, with each binary input's ``data`` filled in
    from the bytes after it."""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise bad(
            f"{BINARY_HEADER} must be the length of the JSON header, between 1 and the "
            f"body's {len(body)} bytes; got {header_length!r}"
        )
    payload = parse_json(body[:length])
    attach_binary(payload, memoryview(body)[length:])
    return payload


def attach_binary(payload: Any, blob: memoryview) -> None:
    """Set ``data`` of every input with ``parameters.binary_data_size`` from ``blob``."""
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    offset = 0
    for i, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, Mapping) else None
        if size is None:
            continue
        name = tensor.get("name", f"inputs[{i}]")
        if type(size) is not int or size < 0:
            raise bad(f"input {name!r}: binary_data_size must be a non-negative integer")
        if "data" in tensor:
            raise bad(f"input {name!r}: send either data or binary_data_size, not both")
        chunk = blob[offset : offset + size]
        if len(chunk) < size:
            raise bad(
                f"input {name!r}: binary_data_size is {size} bytes, but only "
                f"{len(blob) - offset} bytes of binary data are left"
            )
        offset += size
        tensor["data"] = _from_binary(chunk, tensor.get("datatype"), str(name))
    if offset != len(blob):
        raise bad(f"{len(blob) - offset} bytes of binary data belong to no input")


def _from_binary(chunk: memoryview, datatype: Any, name: str) -> list[Any]:
    if datatype == BYTES:
        items: list[Any] = []
        pos = 0
        while pos < len(chunk):
            if pos + 4 > len(chunk):
                raise bad(f"input {name!r}: BYTES element {len(items)} lacks its 4-byte length")
            size = int.from_bytes(chunk[pos : pos + 4], "little")
            pos += 4
            if pos + size > len(chunk):
                raise bad(
                    f"input {name!r}: BYTES element {len(items)} says {size} bytes, "
                    f"{len(chunk) - pos} are left"
                )
            items.append(bytes(chunk[pos : pos + size]))
            pos += size
        return items
    dtype = BINARY_DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise bad(f"input {name!r}: datatype {datatype!r} has no binary form here")
    width = np.dtype(dtype).itemsize
    if len(chunk) % width:
        raise bad(f"input {name!r}: {len(chunk)} bytes are not a whole number of {datatype}")
    array = np.frombuffer(chunk, dtype=dtype)
    values: list[Any] = array.tolist()
    if array.dtype.kind == "f" and np.isnan(array).any():  # binary's missing value: null
        values = [None if math.isnan(v) else v for v in values]
    return values


def binary_outputs(payload: Mapping[str, Any]) -> set[str]:
    """The outputs a request wants in binary (``binary_data`` per output, or
    ``binary_data_output`` for all)."""
    params = payload.get("parameters")
    every = bool(params.get("binary_data_output")) if isinstance(params, Mapping) else False
    outputs = payload.get("outputs")
    if not isinstance(outputs, list):
        return set(OUTPUTS) if every else set()
    wanted: set[str] = set()
    for spec in outputs:
        if not isinstance(spec, Mapping):
            continue
        out_params = spec.get("parameters")
        binary = out_params.get("binary_data") if isinstance(out_params, Mapping) else None
        if (every if binary is None else bool(binary)) and isinstance(spec.get("name"), str):
            wanted.add(spec["name"])
    return wanted


def binary_body(body: dict[str, Any], names: set[str]) -> tuple[bytes, int]:
    """The answer with the ``names`` outputs' data moved after the JSON header; the whole
    body and the header's length."""
    blobs: list[bytes] = []
    for output in body["outputs"]:
        if output["name"] not in names:
            continue
        blob = _to_binary(output.pop("data"), output["datatype"])
        output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(blob)}
        blobs.append(blob)
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return header + b"".join(blobs), len(header)


def _to_binary(data: Any, datatype: str) -> bytes:
    if datatype == BYTES:
        parts = [str(item).encode() for item in data]
        return b"".join(len(p).to_bytes(4, "little") + p for p in parts)
    return np.asarray(data).astype(BINARY_DTYPES[datatype]).tobytes()
