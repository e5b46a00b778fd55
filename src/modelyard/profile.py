"""The training data profile: per-feature statistics logged with every training run.

The profile is the reference the streaming worker compares live rows with to detect
drift. It is one JSON document, stored as the run artifact ``profile/training_profile.json``::

    {"rows": n,
     "labels": {label: count},
     "features": {name: {"count", "mean", "std", "min", "max",
                         "quantiles": {"p01", "p05", "p25", "p50", "p75", "p95", "p99"},
                         "bin_edges": [11 deciles of the training data],
                         "bin_counts": [10 counts]}}}

``std`` is the sample standard deviation (0.0 for a single row). The bins are the
training data's deciles, so each holds about a tenth of the training rows; the last bin
includes its upper edge. Tied values can make neighbouring edges equal.

A categorical feature is profiled on its codes (a category's position in its list, as the
model sees it), with one bin per category (edges halfway between codes) and the list itself
under ``"categories"``: drift is then measured on how often each category occurs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.config import masked_url
from modelyard.errors import ModelyardError, RegistryError, RegistryUnavailableError
from modelyard.inputs.tabular import category_codes
from modelyard.registry import access_refused, refused_status

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.config import MlflowCredentials

PROFILE_ARTIFACT = "profile/training_profile.json"
QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
BINS = 10


def feature_profile(values: np.ndarray) -> dict[str, Any]:
    """Statistics of one feature's finite values (NaN and infinities are left out)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ModelyardError("cannot profile a feature with no finite values")
    edges = np.quantile(x, np.linspace(0.0, 1.0, BINS + 1))
    counts, _ = np.histogram(x, bins=edges)
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
        "quantiles": {key: float(np.quantile(x, q)) for key, q in QUANTILES.items()},
        "bin_edges": [float(e) for e in edges],
        "bin_counts": [int(c) for c in counts],
    }


def categorical_profile(codes: np.ndarray, categories: Sequence[str]) -> dict[str, Any]:
    """Statistics of a categorical feature's codes: one bin per category."""
    profile = feature_profile(codes)
    edges = np.arange(len(categories) + 1, dtype=np.float64) - 0.5
    counts, _ = np.histogram(codes[np.isfinite(codes)], bins=edges)
    profile["bin_edges"] = [float(e) for e in edges]
    profile["bin_counts"] = [int(c) for c in counts]
    profile["categories"] = list(categories)
    return profile


def compute_profile(
    frame: pd.DataFrame,
    features: Sequence[str],
    target: str,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The profile of a training frame: row count, label counts, per-feature statistics
    (``categories``: those of the categorical features, whose columns hold categories)."""
    labels = frame[target].astype(str).value_counts(sort=False)
    categorical = dict(categories or {})

    def profile(name: str) -> dict[str, Any]:
        if name in categorical:
            vocabulary = list(categorical[name])
            codes = category_codes(frame[name].tolist(), vocabulary)
            return categorical_profile(codes, vocabulary)
        return feature_profile(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))

    return {
        "rows": len(frame),
        "labels": {str(label): int(count) for label, count in sorted(labels.items())},
        "features": {name: profile(name) for name in features},
    }


def profile_json(profile: dict[str, Any]) -> str:
    return json.dumps(profile, indent=2, sort_keys=False)


def load_profile(
    tracking_uri: str, run_id: str, credentials: MlflowCredentials | None = None
) -> dict[str, Any]:
    """Download the training profile of ``run_id`` from the MLflow server over HTTP.

    From the server's artifact proxy with a plain HTTP client when the run's artifacts are
    there (no MLflow import in the worker or the dashboard), else with MLflow's client
    (which logs in with the same credentials, from the process environment).
    """
    text = _read_proxied(tracking_uri, run_id, credentials)
    if text is None:
        text = _read_with_mlflow(tracking_uri, run_id, credentials)
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"the training profile of run {run_id} is not JSON: {exc}") from exc
    if not isinstance(profile, dict) or "features" not in profile:
        raise RegistryError(f"the training profile of run {run_id} has no features")
    return profile


def _read_proxied(
    tracking_uri: str, run_id: str, credentials: MlflowCredentials | None
) -> str | None:
    """The profile's text from the artifact proxy; None when the run's artifacts are elsewhere."""
    import httpx

    from modelyard.inference.fetch import ArtifactProxy

    if not tracking_uri.startswith(("http://", "https://")):
        return None
    try:
        with ArtifactProxy(tracking_uri, credentials=credentials) as proxy:
            path = proxy.run_path(run_id)
            if path is None:
                return None
            return proxy.read(f"{path}/{PROFILE_ARTIFACT}").decode("utf-8")
    except httpx.HTTPStatusError as exc:
        raise RegistryError(
            f"run {run_id} has no readable training profile {PROFILE_ARTIFACT}: "
            f"HTTP {exc.response.status_code}"
        ) from exc
    except httpx.HTTPError as exc:
        raise RegistryUnavailableError(
            f"MLflow at {masked_url(tracking_uri)} is unreachable (training profile: {exc})"
        ) from exc


def _read_with_mlflow(tracking_uri: str, run_id: str, credentials: MlflowCredentials | None) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    with tempfile.TemporaryDirectory(prefix="modelyard-profile-") as tmp:
        try:
            path = client.download_artifacts(run_id, PROFILE_ARTIFACT, dst_path=tmp)
            return Path(path).read_text(encoding="utf-8")
        except Exception as exc:
            status = refused_status(exc)
            if status is not None:
                raise access_refused(tracking_uri, status, "read artifacts", credentials) from exc
            message = f"{type(exc).__name__}: {exc}"
            if any(m in message for m in ("ConnectionError", "Max retries", "Connection refused")):
                raise RegistryUnavailableError(
                    f"MLflow at {masked_url(tracking_uri)} is unreachable (training profile)"
                ) from exc
            raise RegistryError(
                f"run {run_id} has no readable training profile {PROFILE_ARTIFACT}: {exc}"
            ) from exc
