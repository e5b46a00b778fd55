"""A model fitted on a data frame without any encoder has no categories (and loads)."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelyard.inference.prepare import encoder_categories


def test_an_estimator_fitted_on_a_frame_has_no_categories() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(frame, ["x", "y", "x", "y"])
    assert list(model.feature_names_in_) == ["a", "b"]  # an array: it has no truth value
    assert encoder_categories(model) == {}
