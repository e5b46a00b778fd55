"""Loading the training data (the bundled iris demo or a user's CSV) and checking it.

Validation errors name the column and the reason, so that a user who points training at
their own CSV knows what to fix before anything is fitted or logged. Missing feature values
are accepted only for a model that handles them (one that imputes them, or a boosted
estimator that treats them natively); a missing label never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import ConfigError, ModelyardError
from modelyard.inputs.tabular import MAX_CATEGORIES, category_text

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_TARGET = "species"
SOURCES = ("iris", "csv")
MIN_ROWS_PER_LABEL = 2
# What a refusal of missing values suggests: the settings under which they are accepted.
MISSING_HINT = (
    "set model.impute (mean, median or most_frequent) or use estimator xgboost or lightgbm "
    "to train on missing values"
)


class DataValidationError(ModelyardError):
    """The training data does not fit the expected schema; ``column`` names where."""

    def __init__(self, reason: str, column: str | None = None) -> None:
        self.reason = reason
        self.column = column
        where = f"column {column!r}: " if column else ""
        super().__init__(f"training data: {where}{reason}")


def iris_frame() -> pd.DataFrame:
    """scikit-learn's bundled iris data with named features and species labels."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    frame = pd.DataFrame(bunch.data, columns=list(IRIS_FEATURES))
    frame[IRIS_TARGET] = [str(bunch.target_names[i]) for i in bunch.target]
    return frame


def read_csv(path: str | Path) -> pd.DataFrame:
    """A user's CSV file as a DataFrame; a missing or unreadable file is a ConfigError."""
    csv_path = Path(path).expanduser()
    if not csv_path.is_file():
        raise ConfigError(f"data.path: no CSV file at {csv_path}")
    try:
        return pd.read_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"data.path: cannot read {csv_path} as CSV: {exc}") from exc


def feature_columns(frame: pd.DataFrame, target: str, features: Sequence[str] | None) -> list[str]:
    """The configured feature columns, or every column but the target."""
    if features:
        names = [str(f) for f in features]
        if len(set(names)) != len(names):
            raise ConfigError(f"data.features: duplicate names in {names}")
        if target in names:
            raise ConfigError(f"data.features: the target column {target!r} cannot be a feature")
        return names
    return [str(c) for c in frame.columns if str(c) != target]


def categorical_columns(
    frame: pd.DataFrame, features: Sequence[str], declared: Sequence[str] | None
) -> list[str]:
    """The categorical features: those ``data.categorical`` names, and every feature whose
    values are all text that is not a number (a column mixing numbers and text is refused by
    :func:`check_schema`, pointing at ``data.categorical``)."""
    named = [declared] if isinstance(declared, str) else [str(n) for n in declared or ()]
    unknown = [n for n in named if n not in features]
    if unknown:
        raise ConfigError(f"data.categorical: {unknown} are not among the features {features}")
    found = list(named)
    for name in features:
        if name in found or name not in frame.columns:
            continue
        column = frame[name]
        if column.dtype.kind in "biufc":
            continue
        present = column.dropna()
        if len(present) and pd.to_numeric(present, errors="coerce").isna().all():
            found.append(name)
    return [n for n in features if n in found]


def categories_of(column: pd.Series, name: str) -> pd.Categorical:
    """A categorical column's values as strings over its sorted categories; a missing value
    is refused (a categorical feature has none: give it a category of its own), and so are
    more categories than a model can one-hot encode."""
    _check_missing(column, name, "give missing values a category of their own, e.g. 'unknown'")
    strings = column.map(lambda v: str(v) if (text := category_text(v)) is None else text)
    categories = sorted(strings.unique())
    if len(categories) > MAX_CATEGORIES:
        raise DataValidationError(
            f"{len(categories)} distinct values; a categorical feature takes at most "
            f"{MAX_CATEGORIES} (an identifier is no feature: leave it out with data.features)",
            column=name,
        )
    return pd.Categorical(strings, categories=categories)


def check_schema(
    frame: pd.DataFrame,
    target: str,
    features: Sequence[str],
    allow_missing: bool = False,
    categorical: Sequence[str] = (),
) -> None:
    """Target and feature columns present, features numeric and finite (but for the
    ``categorical`` ones), no missing values (with ``allow_missing``, missing numeric feature
    values are accepted; a label is still needed)."""
    if frame.empty:
        raise DataValidationError("the data set has no rows")
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        duplicate = next(c for c in columns if columns.count(c) > 1)
        raise DataValidationError("the column appears more than once", column=duplicate)
    for name in [target, *features]:
        if name not in columns:
            raise DataValidationError(f"column not found; the data has {columns}", column=name)
    if not features:
        raise DataValidationError("no feature columns besides the target")
    numeric = [n for n in features if n not in categorical]
    for name in numeric:
        if allow_missing:
            _check_not_all_missing(frame[name], name)
        else:
            _check_missing(frame[name], name, MISSING_HINT)
    _check_missing(frame[target], target)
    for name in numeric:
        _check_numeric(frame[name], name)


def _check_missing(column: pd.Series, name: str, hint: str | None = None) -> None:
    missing = column.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        advice = f"; {hint}" if hint else ""
        raise DataValidationError(
            f"{rows.size} missing value(s) (rows {shown}){advice}", column=name
        )


def _check_not_all_missing(column: pd.Series, name: str) -> None:
    """A feature with no value at all gives an imputer nothing to fill in with."""
    if column.isna().all():
        raise DataValidationError("every value is missing", column=name)


def _check_numeric(column: pd.Series, name: str) -> None:
    values = pd.to_numeric(column, errors="coerce")
    bad = (values.isna() & column.notna()).to_numpy()  # text that is not a number
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"expected numbers, found {column.iloc[row]!r} (row {row}); a column of categories "
            "is named under data.categorical",
            column=name,
        )
    infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise DataValidationError(f"expected finite numbers (row {row})", column=name)


def check_labels(labels: pd.Series, target: str, allowed: Sequence[Any] | None) -> None:
    """At least two labels, each with enough rows to stratify; only allowed labels if given."""
    counts = labels.value_counts()
    if allowed:
        allowed_set = {str(a) for a in allowed}
        unknown = sorted(set(counts.index) - allowed_set)
        if unknown:
            raise DataValidationError(
                f"unexpected label(s) {unknown}; data.labels allows {sorted(allowed_set)}",
                column=target,
            )
    if len(counts) < 2:
        raise DataValidationError(
            f"needs at least two labels to train a classifier, found {list(counts.index)}",
            column=target,
        )
    rare = counts[counts < MIN_ROWS_PER_LABEL]
    if not rare.empty:
        raise DataValidationError(
            f"label {rare.index[0]!r} has {int(rare.iloc[0])} row(s); every label needs at "
            f"least {MIN_ROWS_PER_LABEL} for a stratified split",
            column=target,
        )
