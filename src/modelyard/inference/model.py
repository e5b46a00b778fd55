"""A registered model version loaded into memory, ready to score float matrices.

Scikit-learn models (the flavour modelyard trains) are compiled to ONNX when they convert
exactly and scored by ONNX Runtime; the others are used directly as estimators. Either way
scoring takes a numpy matrix with no DataFrame in between; any other pyfunc model is wrapped
so that it takes the same matrix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.errors import FeatureError, ModelLoadError
from modelyard.extras import extra_for, lacking
from modelyard.inference.fetch import ArtifactProxy
from modelyard.inference.prepare import (
    COMPILED,
    NATIVE_FLAVORS,
    NOT_COMPILED,
    Prepared,
    prepare_in_child,
    read_prepared,
)
from modelyard.inference.sources import Resolver, cache_folder, copy_folder
from modelyard.inputs import InputKind
from modelyard.inputs.image import ImageSpec
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import Registry, VersionInfo

if TYPE_CHECKING:
    from modelyard.inference.runtime import OnnxModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """Predictions for a matrix of rows: a label per row, and class probabilities if known."""

    labels: list[Any]
    probabilities: np.ndarray | None  # (rows, classes), columns in LoadedModel.classes order


@dataclass
class LoadedModel:
    """One model version in memory, with what the services report about it.

    ``schema`` is the model's input kind: a :class:`FeatureSchema` for tabular models, an
    :class:`ImageSpec` for image classifiers.
    """

    info: VersionInfo
    ref: str
    schema: InputKind[Any]
    classes: tuple[Any, ...]
    flavor: str
    input_example: list[dict[str, Any]]
    load_seconds: float
    _predict: Callable[[np.ndarray], Scores] = field(repr=False)
    runtime: str = "python"  # what scores: "onnxruntime", "sklearn" or "python_function"
    origin: str = "cache"  # how it got into the cache: see _how

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def tabular(self) -> FeatureSchema:
        """The feature schema of a tabular model; a FeatureError for a model of another kind."""
        schema = self.schema
        if not isinstance(schema, FeatureSchema):
            raise FeatureError(
                f"model {self.name!r} takes {schema.kind} inputs, not rows of features", None
            )
        return schema

    def score(self, matrix: np.ndarray) -> Scores:
        """Score a batch in one call: an (n, features) float64 matrix for a tabular model,
        an (n, *tensor_shape) float32 array of preprocessed images for an image model."""
        return self._predict(matrix)

    def warm_up(self) -> None:
        """Score the logged input example (a blank image) once; ModelLoadError if it fails."""
        schema = self.schema
        if isinstance(schema, ImageSpec):
            batch = schema.blank(2)
        else:
            assert isinstance(schema, FeatureSchema)
            rows = self.input_example or [dict.fromkeys(schema.names, 0.0)]
            batch = schema.rows_to_matrix(rows)
        try:
            scores = self.score(batch)
        except Exception as exc:
            raise ModelLoadError(
                f"version {self.version} of {self.name!r} failed its warm-up: {exc}"
            ) from exc
        if len(scores.labels) != len(batch):
            raise ModelLoadError(
                f"version {self.version} of {self.name!r} returned {len(scores.labels)} "
                f"predictions for {len(batch)} inputs"
            )


def _sklearn_predictor(
    estimator: Any, schema: FeatureSchema | None = None
) -> tuple[Callable[[np.ndarray], Scores], tuple[Any, ...]]:
    import sklearn

    from modelyard.inference.compiling import on_codes, takes_matrix

    classes = tuple(getattr(estimator, "classes_", ()))
    prepare: Callable[[np.ndarray], Any] = _identity
    on_matrix = None if schema is None else on_codes(estimator, schema)
    if on_matrix is not None:
        estimator = on_matrix  # the pipeline after its codes step takes the matrix
    elif schema is not None and not takes_matrix(estimator, schema.names):
        prepare = schema.frame

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


def _pyfunc_predictor(model: Any, prepared: Prepared) -> Callable[[np.ndarray], Scores]:
    """Any MLflow pyfunc, fed as its signature says (a DataFrame or one array).

    Its answer per row is the label: a DataFrame's first column, a vector, or the index of
    the largest column of a matrix with several (class scores).
    """

    schema = prepared.inputs
    assert isinstance(schema, FeatureSchema)
    columns = list(schema.names)
    how = prepared.python_input
    feed: Callable[[np.ndarray], Any]
    if how.get("layout") == "tensor":
        dtype = np.dtype(str(how.get("dtype") or "float64"))

        def feed(matrix: np.ndarray) -> Any:
            return matrix.astype(dtype, copy=False)

    else:
        dtypes = how.get("dtypes")
        typed = dict(zip(columns, dtypes, strict=True)) if dtypes else None

        def feed(matrix: np.ndarray) -> Any:
            frame = schema.frame(matrix)
            return frame.astype(typed) if typed else frame

    def predict(matrix: np.ndarray) -> Scores:
        out = model.predict(feed(matrix))
        if hasattr(out, "iloc") and getattr(out, "ndim", 1) == 2:
            out = out.iloc[:, 0] if out.shape[1] == 1 else out.to_numpy()
        values = np.asarray(out)
        if values.ndim == 2:
            values = values[:, 0] if values.shape[1] == 1 else values.argmax(axis=1)
        return Scores(values.reshape(len(matrix)).tolist(), None)

    return predict


def _onnx_predictor(runtime: OnnxModel, classes: tuple[Any, ...]) -> Callable[[np.ndarray], Scores]:
    if runtime.returns_probabilities and classes:
        class_array = np.asarray(classes, dtype=object)

        def predict(matrix: np.ndarray) -> Scores:
            proba = runtime.run(matrix)
            return Scores(class_array[proba.argmax(axis=1)].tolist(), proba)

        return predict

    def predict_values(matrix: np.ndarray) -> Scores:
        return Scores(runtime.run(matrix).reshape(len(matrix), -1)[:, 0].tolist(), None)

    return predict_values


def _in_process(
    prepared: Prepared, schema: FeatureSchema
) -> tuple[Callable[[np.ndarray], Scores], tuple[Any, ...]]:
    """Load the MLflow model itself (a model that did not compile to ONNX): a scikit-learn,
    XGBoost or LightGBM model with its own library, anything else as a pyfunc."""
    import importlib

    try:
        if prepared.flavor in NATIVE_FLAVORS:
            flavor = importlib.import_module(f"mlflow.{prepared.flavor}")
            if prepared.flavor == "sklearn":
                import sklearn  # noqa: F401  (MLflow's own message for it is obscure)
            from modelyard.inference.converters import sklearn_api

            native = sklearn_api(flavor.load_model(str(prepared.path)))
            if hasattr(native, "predict_proba") or type(native).__name__ != "Booster":
                return _sklearn_predictor(native, schema)
        import mlflow.pyfunc
        import pandas  # noqa: F401
    except ImportError as exc:
        module, extra = extra_for(exc)
        raise ModelLoadError(
            f"it was not compiled to ONNX ({prepared.not_compiled}), and scoring it in "
            f"process needs {lacking(module, extra or 'sklearn')}"
        ) from exc
    return _pyfunc_predictor(mlflow.pyfunc.load_model(str(prepared.path)), prepared), ()


CACHED = "cache"
PROXIED = "proxy"
COPIED = "copied"


def _how(origin: str, prepared: Prepared) -> str:
    """The load's log line says this: where the version came from, and what was compiled."""
    if origin == CACHED:
        return "from the local model cache"
    if origin == COPIED:
        return "copied from its folder with the ONNX graph compiled at training"
    if origin == COMPILED:
        return "registered without an ONNX graph: compiled to ONNX now"
    if origin == NOT_COMPILED:
        return f"registered without an ONNX graph; it does not compile: {prepared.not_compiled}"
    how = "downloaded over HTTP" if origin == PROXIED else "fetched through MLflow"
    if prepared.onnx_input is None:
        return f"{how}; not compiled to ONNX at training: {prepared.not_compiled}"
    return f"{how} with the ONNX graph compiled at training"


def _prepared(registry: Resolver, info: VersionInfo, target: Path) -> tuple[Prepared, str]:
    """The version in the local cache, and how it got there (CACHED, PROXIED or the child's)."""
    prepared = read_prepared(target)
    if prepared is not None:
        return prepared, CACHED
    if info.fixed:
        folder = Path(info.resolved)
        if folder.is_absolute() and read_prepared(folder) is not None:
            copy_folder(folder, target)  # prepared by modelyard's training: no MLflow needed
            prepared = read_prepared(target)
            if prepared is not None:
                return prepared, COPIED
        what = f"{info.resolved} ({info.name})"
        return prepare_in_child(registry.tracking_uri, info.resolved, target, what)
    if registry.tracking_uri.startswith(("http://", "https://")):
        with ArtifactProxy(registry.tracking_uri, credentials=registry.credentials) as proxy:
            if proxy.download_version(info.name, info.version, target):
                prepared = read_prepared(target)
                if prepared is not None:
                    return prepared, PROXIED
    # not behind the artifact proxy, or registered without a prepared folder
    what = f"version {info.version} of {info.name!r}"
    return prepare_in_child(registry.tracking_uri, info.resolved, target, what)


def load_version(registry: Resolver, info: VersionInfo, cache_dir: Path, ref: str) -> LoadedModel:
    """Load one version (prepared in the local cache first) and warm it up.

    A version the cache already holds loads without MLflow or scikit-learn when it compiled
    to ONNX. Otherwise a registered version is downloaded from MLflow's artifact proxy, and
    only one that came without a prepared folder (or from another artifact store), or a
    fixed source (a run, a logged model, a folder), is prepared by a child process
    (:mod:`modelyard.inference.prepare`).
    """
    started = time.perf_counter()
    prepared, origin = _prepared(registry, info, cache_folder(cache_dir, info))
    return load_prepared(prepared, info, ref, origin, started)


def load_prepared(
    prepared: Prepared,
    info: VersionInfo,
    ref: str,
    origin: str = CACHED,
    started: float | None = None,
) -> LoadedModel:
    """The model of a prepared version (see :func:`load_version`), warmed up.

    ``origin`` says how the version got into the cache (for the log line); ``started`` is
    when loading began (default: now).
    """
    if started is None:
        started = time.perf_counter()
    try:
        schema = prepared.inputs
        onnx_path = prepared.onnx_path
        if not isinstance(schema, FeatureSchema) and onnx_path is None:
            raise ValueError(f"an {schema.kind} model is served from its ONNX graph; it has none")
        if onnx_path is not None and prepared.onnx_input is not None:
            from modelyard.inference.runtime import OnnxModel

            runtime = OnnxModel(onnx_path.read_bytes(), prepared.onnx_input, prepared.onnx_output)
            predict, classes = _onnx_predictor(runtime, prepared.classes), prepared.classes
            engine = "onnxruntime"
        else:
            assert isinstance(schema, FeatureSchema)
            predict, classes = _in_process(prepared, schema)
            engine = prepared.flavor
    except Exception as exc:
        raise ModelLoadError(f"cannot load version {info.version} of {info.name!r}: {exc}") from exc

    loaded = LoadedModel(
        info=info,
        ref=ref,
        schema=schema,
        classes=classes,
        flavor=prepared.flavor,
        input_example=prepared.input_example,
        load_seconds=0.0,
        _predict=predict,
        runtime=engine,
        origin=origin,
    )
    loaded.warm_up()
    loaded.load_seconds = time.perf_counter() - started
    log.info(
        "loaded %s version %s%s (%s on %s, %s) in %.2fs: %s",
        info.name,
        info.version,
        f" = {info.resolved}" if info.fixed else "",
        prepared.flavor,
        engine,
        _inputs(schema),
        loaded.load_seconds,
        _how(origin, prepared),
    )
    return loaded


def _inputs(schema: InputKind[Any]) -> str:
    """The model's input in words, for the load's log line."""
    if isinstance(schema, FeatureSchema):
        return f"{len(schema.names)} features"
    if isinstance(schema, ImageSpec):
        p = schema.preprocessing
        return f"{p.width}x{p.height} {p.mode} images"
    return f"{schema.kind} inputs"


def load_model(registry: Registry, ref: str, cache_dir: Path) -> LoadedModel:
    """Resolve ``ref`` (a version number or an alias) and load that version."""
    return load_version(registry, registry.resolve(ref), cache_dir, ref)
