"""A registered model version loaded into memory, ready to score float matrices.

Scikit-learn models (the flavour modelyard trains) are used directly as estimators, so
scoring takes a numpy matrix with no DataFrame in between; any other pyfunc model is
wrapped so that it takes the same matrix.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import ModelLoadError, RegistryError
from modelyard.features import FeatureSchema
from modelyard.registry import Registry, VersionInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """Predictions for a matrix of rows: a label per row, and class probabilities if known."""

    labels: list[Any]
    probabilities: np.ndarray | None  # (rows, classes), columns in LoadedModel.classes order


@dataclass
class LoadedModel:
    """One model version in memory, with what the services report about it."""

    info: VersionInfo
    ref: str
    schema: FeatureSchema
    classes: tuple[Any, ...]
    flavor: str
    input_example: list[dict[str, Any]]
    load_seconds: float
    _predict: Callable[[np.ndarray], Scores] = field(repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    def score(self, matrix: np.ndarray) -> Scores:
        """Score an (n, features) float64 matrix in one call."""
        return self._predict(matrix)

    def warm_up(self) -> None:
        """Score the logged input example once; raises ModelLoadError if the model fails."""
        rows = self.input_example or [dict.fromkeys(self.schema.names, 0.0)]
        try:
            scores = self.score(self.schema.rows_to_matrix(rows))
        except Exception as exc:
            raise ModelLoadError(
                f"version {self.version} of {self.name!r} failed its warm-up: {exc}"
            ) from exc
        if len(scores.labels) != len(rows):
            raise ModelLoadError(
                f"version {self.version} of {self.name!r} returned {len(scores.labels)} "
                f"predictions for {len(rows)} rows"
            )


def _takes_matrix(estimator: Any, names: tuple[str, ...]) -> bool:
    """Let a fitted estimator take a bare matrix whose columns are ``names``, in order.

    scikit-learn remembers the column names it was fitted with and warns (on every call)
    when given a numpy matrix. When those names are exactly the schema's, in its order,
    they carry no information the matrix lacks, so they are dropped. Anything that selects
    columns by name (a ColumnTransformer) keeps them, and then gets a DataFrame.
    """
    parts = [step for _, step in getattr(estimator, "steps", None) or []] or [estimator]
    for part in parts:
        fitted = getattr(part, "feature_names_in_", None)
        if fitted is None:
            continue
        if type(part).__name__ == "ColumnTransformer" or tuple(map(str, fitted)) != names:
            return False
    for part in parts:
        if "feature_names_in_" in vars(part):
            del part.feature_names_in_
    return True


def _sklearn_predictor(
    estimator: Any, schema: FeatureSchema | None = None
) -> tuple[Callable[[np.ndarray], Scores], tuple[Any, ...]]:
    import sklearn

    classes = tuple(getattr(estimator, "classes_", ()))
    prepare: Callable[[np.ndarray], Any] = _identity
    if schema is not None and not _takes_matrix(estimator, schema.names):
        import pandas as pd

        columns = list(schema.names)

        def prepare(matrix: np.ndarray) -> Any:
            return pd.DataFrame(matrix, columns=columns)

    if hasattr(estimator, "predict_proba") and classes:
        class_array = np.asarray(classes, dtype=object)

        def predict(matrix: np.ndarray) -> Scores:
            # Matrices come from FeatureSchema, which already refused non-finite values.
            with sklearn.config_context(assume_finite=True):
                raw = estimator.predict_proba(prepare(matrix))
            proba = np.asarray(raw, dtype=np.float64)
            labels = class_array[proba.argmax(axis=1)].tolist()
            return Scores(labels, proba)

        return predict, classes

    def predict_labels(matrix: np.ndarray) -> Scores:
        with sklearn.config_context(assume_finite=True):
            raw = estimator.predict(prepare(matrix))
        return Scores(np.asarray(raw).tolist(), None)

    return predict_labels, classes


def _identity(matrix: np.ndarray) -> np.ndarray:
    return matrix


def _pyfunc_predictor(model: Any, schema: FeatureSchema) -> Callable[[np.ndarray], Scores]:
    import pandas as pd

    columns = list(schema.names)

    def predict(matrix: np.ndarray) -> Scores:
        out = model.predict(pd.DataFrame(matrix, columns=columns))
        values = out.iloc[:, 0] if hasattr(out, "iloc") and getattr(out, "ndim", 1) == 2 else out
        return Scores(np.asarray(values).tolist(), None)

    return predict


def _download(uri: str, target: Path) -> Path:
    """Download a model's artifacts once into ``target`` (atomically), then reuse them.

    Several processes (API workers, the streaming worker) may download the same version at
    once: each downloads into a folder of its own and renames it into place; the first
    rename wins and the others keep the winner's copy.
    """
    import mlflow.artifacts

    if (target / "MLmodel").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(partial))
        found = next(partial.rglob("MLmodel"), None)
        if found is None:
            raise ModelLoadError(f"{uri} has no MLmodel file")
        try:
            found.parent.rename(target)
        except OSError as exc:  # another process got there first, or a stale folder is there
            if not (target / "MLmodel").exists():
                raise ModelLoadError(
                    f"cannot put {uri} in the model cache {target}: {exc}"
                ) from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def load_version(registry: Registry, info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    """Load one registered version (from the local cache when present) and warm it up."""
    import mlflow
    from mlflow.models import Model

    started = time.perf_counter()
    mlflow.set_tracking_uri(registry.tracking_uri)
    mlflow.set_registry_uri(registry.tracking_uri)
    target = cache_dir / info.name / info.version
    try:
        path = _download(f"models:/{info.name}/{info.version}", target)
        meta = Model.load(str(path))
        schema = FeatureSchema.from_signature(meta.signature)
        example_frame = meta.load_input_example(str(path))
    except (ModelLoadError, RegistryError):
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load version {info.version} of {info.name!r}: {exc}") from exc

    example: list[dict[str, Any]] = []
    if example_frame is not None and hasattr(example_frame, "to_dict"):
        example = [
            {str(k): float(v) for k, v in row.items()}
            for row in example_frame.to_dict(orient="records")
        ]
    try:
        if "sklearn" in meta.flavors:
            import mlflow.sklearn

            estimator = mlflow.sklearn.load_model(str(path))
            predict, classes = _sklearn_predictor(estimator, schema)
            flavor = "sklearn"
        else:
            import mlflow.pyfunc

            predict = _pyfunc_predictor(mlflow.pyfunc.load_model(str(path)), schema)
            classes = ()
            flavor = "python_function"
    except Exception as exc:
        raise ModelLoadError(f"cannot load version {info.version} of {info.name!r}: {exc}") from exc

    loaded = LoadedModel(
        info=info,
        ref=ref,
        schema=schema,
        classes=classes,
        flavor=flavor,
        input_example=example,
        load_seconds=0.0,
        _predict=predict,
    )
    loaded.warm_up()
    loaded.load_seconds = time.perf_counter() - started
    log.info(
        "loaded %s version %s (%s, %d features) in %.2fs",
        info.name,
        info.version,
        flavor,
        len(schema.names),
        loaded.load_seconds,
    )
    return loaded


def load_model(registry: Registry, ref: str, cache_dir: Path) -> LoadedModel:
    """Resolve ``ref`` (a version number or an alias) and load that version."""
    return load_version(registry, registry.resolve(ref), cache_dir, ref)
