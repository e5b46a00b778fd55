"""The drift panel says why a PSI above the setting raises no alert (the noise-aware threshold)."""

from __future__ import annotations

import pandas as pd

from modelyard.dashboard import figures, ids, views

TIMES = pd.to_datetime(["2026-01-01 00:00"] * 2 + ["2026-01-01 00:01"] * 2)


def history(psi: list[float], threshold: list[float], alert: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created_at": TIMES,
            "feature": ["sepal_width", "petal_width"] * 2,
            "psi": psi,
            "threshold": threshold,
            "alert": alert,
        }
    )


# an unshifted stream: PSI 0.27 above the setting 0.25, under the noise-aware 0.32
UNSHIFTED = history([0.2, 0.1, 0.27, 0.12], [0.32] * 4, [False] * 4)


def test_the_chart_says_the_threshold_in_force_is_above_the_setting() -> None:
    fig = figures.drift(UNSHIFTED, 0.25)
    texts = [annotation.text for annotation in fig.layout.annotations]
    assert texts == [
        "alert threshold 0.32, above the setting 0.25: sampling noise alone reaches more "
        "with samples this small"
    ]
    line = fig.data[-1]
    assert line.name == "alert threshold" and "setting 0.25" in line.hovertemplate


def test_the_chart_adds_nothing_when_the_setting_is_in_force() -> None:
    fig = figures.drift(
        history([0.2, 0.1, 0.3, 0.12], [0.25] * 4, [False, False, True, False]), 0.25
    )
    assert not fig.layout.annotations


def test_the_panel_explains_a_psi_above_the_setting_without_an_alert() -> None:
    note = views.drift_below_noise(UNSHIFTED, 0.25)
    assert note is not None and note.id == ids.DRIFT_NOISE_NOTE
    text = str(note.children)
    assert text.startswith(
        "No drift alert, although the latest PSI (sepal_width 0.27) is above the setting "
        "MODELYARD_DRIFT_THRESHOLD=0.25"
    )
    assert "threshold in force (0.32, the dashed line)" in text
    assert "modelyard stream --shift" in text


def test_the_panel_says_nothing_when_an_alert_or_no_excess_explains_itself() -> None:
    alerting = history([0.2, 0.1, 0.5, 0.12], [0.32] * 4, [False, False, True, False])
    assert views.drift_below_noise(alerting, 0.25) is None
    calm = history([0.2, 0.1, 0.2, 0.12], [0.32] * 4, [False] * 4)
    assert views.drift_below_noise(calm, 0.25) is None
    assert views.drift_below_noise(UNSHIFTED.iloc[:0], 0.25) is None


def test_a_categorical_feature_is_compared_category_by_category() -> None:
    from modelyard.dashboard.profiles import feature_bins
    from modelyard.profile import categorical_profile

    codes = pd.Series([0, 0, 1, 2, 2, 2], dtype="float64").to_numpy()
    bins = feature_bins({"features": {"zone": categorical_profile(codes, ["1", "10", "east"])}})
    zone = bins["zone"]
    assert zone.categories == ["1", "10", "east"]
    # stored values as the API took them: text, numbers naming a category, anything else
    recent = zone.scale(["east", 10, "1", "nowhere", None, 1.0])
    assert recent == [2.0, 1.0, 0.0, 0.0]
    fig = figures.distribution("zone", recent, zone.bin_edges, zone.bin_counts, zone.categories)
    assert list(fig.data[0].x) == ["1", "10", "east"]
    assert list(fig.data[1].y) == [0.5, 0.25, 0.25]
    assert fig.layout.xaxis.title.text == "zone (categories)"
