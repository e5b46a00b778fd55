"""Live quality and drift statistics on plain arrays and a real training profile."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.profile import compute_profile, feature_profile
from modelyard.streaming.monitoring import (
    FeatureProfile,
    TrainingProfile,
    drift,
    min_window,
    psi,
    quality,
)
from modelyard.streaming.replay import Replay


def test_quality_counts_accuracy_recall_and_confusion() -> None:
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "a", "c"]
    q = quality(truth, predicted, classes=["a", "b", "c", "d"])
    assert q.labelled_rows == 6
    assert q.accuracy == pytest.approx(4 / 6)
    assert q.per_class_recall["a"] == pytest.approx(2 / 3)
    assert q.per_class_recall["b"] == pytest.approx(1 / 2)
    assert q.per_class_recall["c"] == 1.0
    assert q.per_class_recall["d"] is None
    assert q.confusion["a"] == {"a": 2, "b": 1, "c": 0, "d": 0}
    assert quality([], []).accuracy is None


def test_drift_grows_with_the_shift() -> None:
    rng = np.random.default_rng(7)
    profile = FeatureProfile.from_json("x", feature_profile(rng.normal(5.0, 1.0, 2000)))
    same = drift(profile, rng.normal(5.0, 1.0, 500))
    small = drift(profile, rng.normal(5.5, 1.0, 500))
    large = drift(profile, rng.normal(7.0, 1.0, 500))
    assert same.psi < 0.1
    assert same.psi < small.psi < large.psi
    assert large.psi > 1.0
    assert same.ks_statistic < small.ks_statistic < large.ks_statistic
    assert large.ks_p_value < 1e-10
    assert same.rows == 500


def test_psi_counts_values_outside_the_training_range() -> None:
    profile = FeatureProfile.from_json("x", {"bin_edges": [0.0, 1.0, 2.0], "bin_counts": [50, 50]})
    assert psi(profile, np.array([0.5, 1.5] * 50)) == pytest.approx(0.0)
    assert psi(profile, np.array([5.0] * 100)) > 3.0  # all above the last edge


def test_training_profile_from_the_training_pipelines_format() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "a": np.arange(100, dtype=float),
            "b": np.arange(100, dtype=float) * 2,
            "y": ["p", "q"] * 50,
        }
    )
    profile = TrainingProfile.from_json(compute_profile(frame, ["a", "b"], "y"))
    assert profile.rows == 100 and set(profile.features) == {"a", "b"}
    cdf = profile.features["a"].cdf(np.array([-1.0, 49.5, 1000.0]))
    assert cdf[0] == 0.0 and cdf[2] == 1.0 and 0.4 < cdf[1] < 0.6
    with pytest.raises(ValueError, match="no features"):
        TrainingProfile.from_json({"rows": 1, "features": {}})


def test_psi_bins_merge_tied_and_thin_deciles() -> None:
    # deciles of coarse data: a zero-width bin (tied edges) and a bin of 4% of the rows
    profile = FeatureProfile.from_json(
        "x",
        {
            "bin_edges": [0.1, 0.2, 0.2, 0.4, 1.0, 1.5, 2.0],
            "bin_counts": [4, 0, 26, 30, 20, 20],
        },
    )
    edges, counts = profile.psi_bins()
    assert edges.tolist() == [0.1, 0.4, 1.0, 1.5, 2.0]
    assert counts.tolist() == [30, 30, 20, 20]
    # a last bin too thin to stand alone joins the one before it
    thin_end = FeatureProfile.from_json(
        "x", {"bin_edges": [0.0, 1.0, 2.0, 3.0], "bin_counts": [50, 48, 2]}
    )
    edges, counts = thin_end.psi_bins()
    assert edges.tolist() == [0.0, 1.0, 3.0] and counts.tolist() == [50, 50]


def test_small_windows_need_a_larger_psi_to_alert() -> None:
    rng = np.random.default_rng(11)
    profile = FeatureProfile.from_json("x", feature_profile(rng.normal(0.0, 1.0, 100)))
    tiny = drift(profile, rng.normal(0.0, 1.0, 20), threshold=0.25)
    large = drift(profile, rng.normal(0.0, 1.0, 5000), threshold=0.25)
    assert tiny.threshold > 1.0  # 20 rows against 100: PSI is mostly noise
    assert 0.25 < large.threshold < 0.35
    assert tiny.threshold > large.threshold
    assert not tiny.alert and not large.alert
    moved = drift(profile, rng.normal(1.5, 1.0, 5000), threshold=0.25)
    assert moved.alert and moved.psi > moved.threshold


def _demo_profile() -> TrainingProfile:
    """The training profile of the demo's training split."""
    from modelyard.config import Settings
    from modelyard.profile import compute_profile
    from modelyard.training import nodes
    from modelyard.training.run import _base_params, project_path

    params = _base_params(project_path(Settings(_env_file=None)))  # type: ignore[call-arg]
    clean, features = nodes.validate_dataset(nodes.load_dataset(params["data"]), params["data"])
    train, _ = nodes.split_dataset(clean, params["data"]["target"], params["split"])
    return TrainingProfile.from_json(compute_profile(train, features, "species"))


def test_the_held_out_rows_raise_no_alert_until_they_are_shifted(holdout: Replay) -> None:
    """The demo: the stream replays the held-out rows against the training split's profile."""

    profile = _demo_profile()
    for window in (200, 500):  # the stream cycles through the 45 rows
        for name, feature in profile.features.items():
            values = np.resize([r[name] for r in holdout.rows], window)
            calm = drift(feature, values, threshold=0.25)
            assert not calm.alert, (window, name, calm.psi, calm.threshold)
            moved = drift(feature, values + 0.2, threshold=0.25)  # 2 mm, the data's resolution
            assert moved.alert, (window, name, moved.psi, moved.threshold)


def test_windows_too_small_for_the_noise_bound_are_not_measured(holdout: Replay) -> None:
    """The demo's first rows: PSI on a window with empty bins is not drift, so no alert."""
    profile = _demo_profile()
    for name, feature in profile.features.items():
        needed = min_window(feature)
        shares = feature.psi_bins()[1] / feature.psi_bins()[1].sum()
        assert needed * shares.min() >= 5 > (needed - 1) * shares.min()
        assert needed <= 100  # bins hold at least 5% of the training rows
        # the demo's first 20 rows alerted on two features when they were measured
        assert needed > 20
        for window in range(needed, 501, 7):
            values = np.resize([r[name] for r in holdout.rows], window)
            calm = drift(feature, values, threshold=0.25)
            assert not calm.alert, (window, name, calm.psi, calm.threshold)
