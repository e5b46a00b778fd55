"""Open Inference Protocol (KServe V2) over REST, with the classification extension.

Inputs are either one tensor of shape ``[rows, features]`` (features in the order of
``GET /v2/models/{name}``) or one tensor per feature, named after it, of shape ``[rows]``
or ``[rows, 1]``. Outputs: ``predict`` (labels) and ``predict_proba`` (``[rows, classes]``);
both by default. ``outputs[i].parameters.classification = k`` turns that output into the
top-k ``"score:index:label"`` strings. Errors: ``{"error": "..."}``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.inference.model import LoadedModel
from modelyard.inputs.tabular import Columns, Rows, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError, protocol_status
from modelyard.serving.http import Reply, json_reply

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


def _tensor(tensor: Any, index: int) -> tuple[str, list[int], str, list[Any]]:
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
    if datatype not in NUMERIC_TYPES:
        raise bad(
            f"input {name!r}: datatype {datatype!r} is not supported; "
            f"use one of {sorted(NUMERIC_TYPES)}"
        )
    flat = _flatten(tensor["data"], name)
    if len(flat) != math.prod(shape):
        raise bad(
            f"input {name!r}: shape {shape} needs {math.prod(shape)} values, data has {len(flat)}"
        )
    return name, shape, datatype, flat


def tensor_inputs(names: tuple[str, ...], inputs: Any) -> TabularInput:
    """The layout V2 ``inputs`` hold for features ``names``: one [rows, features] tensor
    (positional rows), or one [rows] or [rows, 1] tensor per feature (columns)."""
    if not isinstance(inputs, list) or not inputs:
        raise bad("'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(t, i) for i, t in enumerate(inputs)]
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
    return {
        "name": model.name,
        "versions": versions,
        "platform": model.flavor,
        "inputs": [{"name": n, "datatype": "FP64", "shape": [-1]} for n in model.tabular.names],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]},
        ],
        "parameters": {
            "version": model.version,
            "aliases": list(model.info.aliases),
            "classes": classes,
            "run_id": model.info.run_id,
        },
    }


def decode(payload: Any, names: tuple[str, ...]) -> tuple[TabularInput, Wanted]:
    """The inputs of an inference request for features ``names``, and the outputs wanted."""
    if not isinstance(payload, dict):
        raise bad("the body must be a JSON object with 'inputs'")
    wanted = requested_outputs(payload)
    return tensor_inputs(names, payload.get("inputs")), wanted


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
