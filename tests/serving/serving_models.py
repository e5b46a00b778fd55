"""Real in-process models for the serving unit tests (no MLflow needed)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from modelyard.inference.model import LoadedModel, Scores, _sklearn_predictor
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import VersionInfo

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SCHEMA = FeatureSchema(IRIS)


@cache
def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    labels = np.asarray(data.target_names)[data.target]
    return np.asarray(data.data, dtype=np.float64), labels


def iris_matrix() -> np.ndarray:
    return _iris()[0]


def iris_model(version: str = "1", estimator: str = "logistic_regression") -> LoadedModel:
    """A fitted scikit-learn model wrapped exactly as load_version wraps one."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    model = (
        LogisticRegression(max_iter=500)
        if estimator == "logistic_regression"
        else RandomForestClassifier(n_estimators=10, random_state=0)
    )
    model.fit(x, y)
    predict, classes = _sklearn_predictor(model, SCHEMA)
    return wrap(predict, classes, version)


def wine_model(version: str = "1") -> LoadedModel:
    """A LogisticRegression on scikit-learn's wine data (13 features, classes 0, 1, 2)."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    data = load_wine()
    schema = FeatureSchema(tuple(data.feature_names))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # BLAS threads only contend on a small, shared machine
        model = LogisticRegression(max_iter=5000).fit(data.data, data.target)
    predict, classes = _sklearn_predictor(model, schema)
    return wrap(predict, classes, version, name="wine", schema=schema)


def wrap(
    predict: Callable[[np.ndarray], Scores],
    classes: tuple[object, ...],
    version: str,
    *,
    name: str = "iris",
    schema: FeatureSchema = SCHEMA,
) -> LoadedModel:
    info = VersionInfo(
        name=name, version=version, run_id=f"run-{version}", aliases=(), created_at=0.0
    )
    return LoadedModel(
        info=info,
        ref=version,
        schema=schema,
        classes=classes,
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=predict,
    )


def picky_model(base: LoadedModel) -> LoadedModel:
    """``base``, except that it refuses any matrix with a negative value in it."""

    def predict(matrix: np.ndarray) -> Scores:
        if (matrix < 0).any():
            raise ValueError("negative measurement")
        return base.score(matrix)

    return wrap(predict, base.classes, base.version + "-picky")


# --- a model that takes missing values: iris behind a SimpleImputer, compiled to ONNX --------
IMPUTED = "iris-imputed"


@cache
def imputed_pipeline() -> Any:
    """SimpleImputer (mean), StandardScaler and LogisticRegression, fitted on iris with a
    fifth of its values missing (NaN)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _iris()
    gappy = x.copy()
    gappy[np.random.default_rng(3).random(x.shape) < 0.2] = np.nan
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=500))
    return model.fit(gappy, y)


@cache
def imputed_prepared() -> tuple[dict[str, Any], bytes]:
    """``meta.json`` and the ONNX graph of :func:`imputed_pipeline`, every feature nullable,
    as training prepares a model it trained with ``model.impute``."""
    import copy

    from modelyard.inference.prepare import sklearn_prepared

    example = [dict(zip(IRIS, map(float, row), strict=True)) for row in iris_matrix()[:5]]
    meta, graph = sklearn_prepared(
        copy.deepcopy(imputed_pipeline()), SCHEMA.allowing_missing(), example
    )
    assert graph is not None, meta["not_compiled"]
    return meta, graph


# --- the image classifier: scikit-learn's digits, compiled to ONNX ----------------------------
DIGITS = "digits"
# Per version: the preprocessing (read back from meta.json at load) and the estimator.
DIGITS_PREPROCESSING = {
    "1": {"size": [16, 16], "mode": "L", "layout": "flat"},
    "2": {"size": [32, 32], "mode": "L", "mean": [0.5], "std": [0.5], "layout": "flat"},
}


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits as 8-bit greyscale pixels, and their labels (0-9)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.round(np.asarray(data.images) * (255.0 / 16.0)).astype(np.uint8)
    return pixels, np.asarray(data.target)


def _picture(index: int, size: int = 64) -> Any:
    """Sample ``index`` as a greyscale PIL image, upscaled to ``size`` pixels square."""
    from PIL import Image

    pixels = _digits()[0][index]
    return Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.BILINEAR)


def digit_image(
    digit: int, image_format: str = "PNG", *, size: int = 64, mode: str = "L", sample: int = 1
) -> bytes:
    """An encoded picture of a handwritten ``digit`` (the ``sample``-th of the data set; by
    default one both fixture versions recognise, for every digit), upscaled to ``size``
    pixels square, in ``mode`` and ``image_format`` (PNG, JPEG, ...)."""
    import io

    index = int(np.flatnonzero(_digits()[1] == digit)[sample])
    image = _picture(index, size)
    if mode != "L":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    return out.getvalue()


@cache
def digits_prepared(version: str) -> tuple[dict[str, object], bytes]:
    """``meta.json`` and the ONNX graph of version 1 (LogisticRegression on 16x16) or 2
    (a small MLP on 32x32) of ``digits``, fitted once per process on the same preprocessing
    the server applies."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from modelyard.inference.prepare import image_meta
    from modelyard.inputs.image import ImagePreprocessing, ImageSpec

    preprocessing = ImagePreprocessing.from_params(DIGITS_PREPROCESSING[version])
    labels = _digits()[1]
    x = np.stack([preprocessing.tensor(_picture(i)) for i in range(len(labels))])
    estimator: Any = (
        LogisticRegression(max_iter=300)
        if version == "1"
        else MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
    )
    with threadpool_limits(1):  # BLAS threads only contend on a small, shared machine
        estimator.fit(x, labels)
    graph = to_onnx(estimator, x[:1], options={id(estimator): {"zipmap": False}})
    outputs = [o.name for o in graph.graph.output]
    assert "probabilities" in outputs, outputs
    meta = image_meta(ImageSpec(preprocessing), estimator.classes_, "sklearn")
    return meta, graph.SerializeToString()
