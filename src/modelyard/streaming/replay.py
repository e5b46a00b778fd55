"""Data sets the stream replays: the demo's held-out iris split, or a user's CSV."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.errors import ConfigError

# The training pipeline's split of the demo data (conf/base/parameters_training.yml).
HOLDOUT_FRACTION = 0.3
HOLDOUT_SEED = 47


@dataclass(frozen=True)
class Replay:
    """Rows to replay: feature dicts and their true labels (None when unknown)."""

    name: str
    rows: tuple[dict[str, Any], ...]
    labels: tuple[str | None, ...]

    def __post_init__(self) -> None:
        if not self.rows:
            raise ConfigError(f"the data set {self.name!r} has no rows to replay")
        if len(self.rows) != len(self.labels):
            raise ValueError("rows and labels differ in length")

    def __len__(self) -> int:
        return len(self.rows)

    def take(
        self, start: int, count: int, shift: float = 0.0
    ) -> tuple[list[dict[str, Any]], list[str | None]]:
        """``count`` rows from position ``start``, cycling; numbers moved by ``shift``."""
        n = len(self.rows)
        picked = [(start + i) % n for i in range(count)]
        rows = [self.rows[i] for i in picked]
        if shift:
            rows = [_shifted(r, shift) for r in rows]
        return rows, [self.labels[i] for i in picked]


def _shifted(row: dict[str, Any], shift: float) -> dict[str, Any]:
    return {
        k: v + shift if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in row.items()
    }


def iris_holdout(test_size: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED) -> Replay:
    """The iris rows the training pipeline holds out (same frame, same stratified split)."""
    from sklearn.model_selection import train_test_split

    from modelyard.training.data import IRIS_FEATURES, IRIS_TARGET, iris_frame

    frame = iris_frame()
    _, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[IRIS_TARGET]
    )
    rows = tuple(
        {name: float(value) for name, value in zip(IRIS_FEATURES, values, strict=True)}
        for values in test[list(IRIS_FEATURES)].itertuples(index=False)
    )
    return Replay("iris-holdout", rows, tuple(str(v) for v in test[IRIS_TARGET]))


def csv_replay(
    path: Path, target: str | None = None, features: Sequence[str] | None = None
) -> Replay:
    """Rows of a CSV file; ``target`` names the label column (omit: no labels)."""
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"no CSV file at {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path} as CSV: {exc}") from exc
    columns = [str(c) for c in frame.columns]
    if target is not None and target not in columns:
        raise ConfigError(f"{path} has no column {target!r}; its columns are {columns}")
    names = list(features) if features else [c for c in columns if c != target]
    missing = [n for n in names if n not in columns]
    if missing:
        raise ConfigError(f"{path} has no column {missing[0]!r}; its columns are {columns}")
    records = frame.to_dict(orient="records")
    rows = tuple({n: _json_value(rec[n]) for n in names} for rec in records)
    labels = tuple(
        None if target is None or _json_value(rec[target]) is None else str(rec[target])
        for rec in records
    )
    return Replay(path.name, rows, labels)


def _json_value(value: Any) -> Any:
    """CSV cells as JSON values: NaN becomes null, numpy scalars plain Python."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
