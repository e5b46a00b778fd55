"""Request bodies (written once to files for wrk) and a stdlib HTTP client to check answers."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from sklearn.datasets import load_iris

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris_rows(count: int, seed: int = 7) -> np.ndarray:
    """``count`` rows drawn (with replacement, fixed seed) from scikit-learn's iris data."""
    data = load_iris().data
    rng = np.random.default_rng(seed)
    return np.asarray(data[rng.integers(0, len(data), size=count)], dtype=np.float64)


def invocations_body(columns: tuple[str, ...], rows: np.ndarray) -> dict[str, Any]:
    """MLflow scoring protocol, split orientation (what `mlflow models serve` documents)."""
    return {"dataframe_split": {"columns": list(columns), "data": rows.tolist()}}


def predict_body(columns: tuple[str, ...], rows: np.ndarray) -> dict[str, Any]:
    """modelyard's own /predict: one record, or {"records": [...]} for a batch."""
    records = [dict(zip(columns, map(float, row), strict=True)) for row in rows]
    return records[0] if len(records) == 1 else {"records": records}


@dataclass(frozen=True)
class Payload:
    """A body on disk for wrk and in memory for the checks."""

    name: str
    rows: int
    body: bytes
    path: Path


def write_payload(folder: Path, name: str, body: dict[str, Any], rows: int) -> Payload:
    raw = json.dumps(body, separators=(",", ":")).encode()
    path = folder / f"{name}.json"
    path.write_bytes(raw)
    return Payload(name, rows, raw, path)


def http_call(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 30.0,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One request with the standard library; (status, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        conn.request(method, parts.path or "/", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def predictions_of(answer: Any, rows: int) -> list[Any] | None:
    """The per-row predictions in an answer, whatever the protocol calls them."""
    if isinstance(answer, list) and len(answer) == rows:
        return answer
    if isinstance(answer, dict):
        for key in ("predictions", "records", "results", "outputs", "data"):
            found = predictions_of(answer.get(key), rows)
            if found is not None:
                return found
        if rows == 1 and ("label" in answer or "prediction" in answer):
            return [answer]
    return None


def labels_of(predictions: list[Any]) -> list[Any]:
    """Reduce each prediction to its label, for comparing servers."""
    out = []
    for item in predictions:
        if isinstance(item, dict):
            out.append(item.get("label", item.get("prediction", item)))
        else:
            out.append(item)
    return out


def good_answer(url: str, payload: Payload) -> list[Any] | None:
    """The labels if ``url`` answers the payload with 200 and one prediction per row."""
    status, raw = http_call(url, "POST", payload.body)
    if status != 200:
        return None
    try:
        found = predictions_of(json.loads(raw), payload.rows)
    except ValueError:
        return None
    return labels_of(found) if found is not None else None
