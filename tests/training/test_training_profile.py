"""The training data profile: the exact JSON shape the streaming worker reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import ModelyardError
from modelyard.profile import PROFILE_ARTIFACT, compute_profile, feature_profile, profile_json

QUANTILE_KEYS = ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]


def test_artifact_path() -> None:
    assert PROFILE_ARTIFACT == "profile/training_profile.json"


def test_profile_shape_and_values() -> None:
    x = np.arange(1.0, 101.0)  # 1..100
    frame = pd.DataFrame({"x": x, "y": x * 2, "label": ["a"] * 60 + ["b"] * 40})
    profile = compute_profile(frame, ["x", "y"], "label")
    assert set(profile) == {"rows", "labels", "features"}
    assert profile["rows"] == 100
    assert profile["labels"] == {"a": 60, "b": 40}
    assert list(profile["features"]) == ["x", "y"]
    fx = profile["features"]["x"]
    assert set(fx) == {"count", "mean", "std", "min", "max", "quantiles", "bin_edges", "bin_counts"}
    assert fx["count"] == 100
    assert fx["mean"] == pytest.approx(50.5)
    assert fx["std"] == pytest.approx(np.std(x, ddof=1))
    assert (fx["min"], fx["max"]) == (1.0, 100.0)
    assert list(fx["quantiles"]) == QUANTILE_KEYS
    assert fx["quantiles"]["p50"] == pytest.approx(50.5)
    assert fx["quantiles"]["p01"] == pytest.approx(np.quantile(x, 0.01))
    assert len(fx["bin_edges"]) == 11 and len(fx["bin_counts"]) == 10
    assert fx["bin_edges"][0] == 1.0 and fx["bin_edges"][-1] == 100.0
    assert fx["bin_counts"] == [10] * 10
    assert profile["features"]["y"]["max"] == 200.0


def test_bins_are_training_deciles_even_with_ties() -> None:
    values = np.array([1.0] * 50 + list(np.linspace(2, 10, 50)))
    fx = feature_profile(values)
    assert fx["bin_edges"] == sorted(fx["bin_edges"])
    assert sum(fx["bin_counts"]) == 100
    assert fx["bin_edges"][:5] == [1.0] * 5


def test_profile_is_json_with_plain_types() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "label": [0, 1, 0, 1]})
    text = profile_json(compute_profile(frame, ["x"], "label"))
    parsed = json.loads(text)
    assert parsed["labels"] == {"0": 2, "1": 2}
    assert isinstance(parsed["features"]["x"]["count"], int)


def test_single_row_has_zero_std() -> None:
    assert feature_profile(np.array([3.0]))["std"] == 0.0


def test_no_finite_values() -> None:
    with pytest.raises(ModelyardError, match="no finite values"):
        feature_profile(np.array([np.nan, np.inf]))
