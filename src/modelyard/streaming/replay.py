"""Data sets the stream replays: the training pipeline's held-out rows, or a user's CSV."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError

if TYPE_CHECKING:
    from modelyard.config import Settings

HOLDOUT_TIMEOUT_SECONDS = 300


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


def training_holdout(settings: Settings) -> Replay:
    """The rows the training pipeline holds out, as its parameters define them.

    Reads the ``training`` pipeline's parameters (``conf/base/parameters_training.yml``,
    with ``conf/local`` over it) the way ``modelyard train`` does, and runs the pipeline's
    own load, validate and split nodes on them: same data source, features, target, test
    size, seed and stratification, so the stream replays exactly what training held out.
    Overrides given to one ``modelyard train --param`` run are not seen here.
    """
    from modelyard.training import nodes
    from modelyard.training.run import _base_params, project_path

    # The project's Kedro settings (src/modelyard/settings.py) are Kedro's defaults, so the
    # parameters are read without bootstrap_project.
    with _logging_kept(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "register_new_resolver", UserWarning)  # OmegaConf's
        params = _base_params(project_path(settings))
    data, split = params.get("data") or {}, params.get("split") or {}
    model = params.get("model") or {}
    clean, features = nodes.validate_dataset(nodes.load_dataset(data), data, model)
    target = str(data["target"])
    _, test = nodes.split_dataset(clean, target, split)
    rows = tuple(  # a missing value (NaN, for a model that takes them) is sent as null
        {
            name: value if isinstance(value, str) else _json_value(float(value))
            for name, value in zip(features, values, strict=True)
        }
        for values in test[features].itertuples(index=False)
    )
    source = str(data.get("source", "iris"))
    name = Path(str(data["path"])).stem if source == "csv" and data.get("path") else source
    return Replay(f"{name}-holdout", rows, tuple(str(v) for v in test[target]))


def holdout_in_child() -> Replay:
    """:func:`training_holdout` computed in a child process, for a long-running stream.

    Reading the held-out rows imports Kedro, scikit-learn and pandas (about 180 MB that a
    process keeps once imported) to replay 45 rows; the child hands them back as JSON. It
    reads the same settings (the environment) as this process.
    """
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.streaming.replay"],
        capture_output=True,
        text=True,
        timeout=HOLDOUT_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ConfigError(lines[-1] if lines else f"reading the held-out rows failed ({done})")
    doc = json.loads(done.stdout)
    return Replay(str(doc["name"]), tuple(doc["rows"]), tuple(doc["labels"]))


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Undo the logging set-up Kedro applies when its project module is first imported.

    ``kedro.framework.project`` configures the whole process's logging at import (the
    project's ``conf/logging.yml``, whose lines say ``[train]``); the stream keeps its own.
    """
    manager = logging.Logger.manager
    before = {
        name: (lg.level, lg.handlers[:], lg.propagate, lg.disabled)
        for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]
        if isinstance(lg, logging.Logger)
    }
    disabled = logging.root.manager.disable
    logging.disable(logging.INFO)  # Kedro announces the configuration it applies
    try:
        yield
    finally:
        logging.disable(disabled)
        for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]:
            if not isinstance(lg, logging.Logger):
                continue
            level, handlers, propagate, off = before.get(name, (logging.NOTSET, [], True, False))
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.disabled = off


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


def main() -> int:
    """``python -m modelyard.streaming.replay``: the held-out rows as JSON on stdout."""
    from modelyard.config import get_settings

    try:
        replay = training_holdout(get_settings())
    except ConfigError as exc:
        print(exc, file=sys.stderr)  # noqa: T201
        return 1
    doc = {"name": replay.name, "rows": replay.rows, "labels": replay.labels}
    print(json.dumps(doc))  # noqa: T201 - read back by holdout_in_child
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
