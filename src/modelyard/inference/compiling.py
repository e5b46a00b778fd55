"""Compiling a fitted scikit-learn model to ONNX that scores exactly as scikit-learn does.

Served through ONNX Runtime, a 100-tree forest scores one row in microseconds instead of
milliseconds, and the serving process needs neither scikit-learn nor its imports (seconds
and ~150 MB). The conversion is skl2onnx's; these details make the trees agree with the
library's to the bit on the split decisions:

- scikit-learn casts features to float32 before walking a tree and compares them with float64
  thresholds. Each threshold is lowered to the largest float32 not above it, which for
  float32 inputs decides every split the same way (so the estimator's own predictions do not
  change), and a ``Cast`` to float32 is put in front of every tree ensemble, so that
  preprocessing (a scaler) still runs in float64 as it does in scikit-learn.
- skl2onnx's SimpleImputer fills in float32 values with an operator ONNX Runtime has no
  float64 kernel for: it is compiled to ``Where(IsNaN(x), statistics, x)`` in the input's
  own precision instead.
- XGBoost casts features to float32 too, and compares them with float32 thresholds: the
  same ``Cast`` in front of its trees makes its graph decide every split as it does.
- LightGBM compares float64 features with float64 thresholds. onnxmltools writes its
  thresholds as float32; they are written as float64 instead (``nodes_values_as_tensor``),
  and its trees take the float64 features uncast.
- Probabilities are accumulated in float32 by ONNX Runtime: they agree to about 1e-6, and
  labels agree except where two classes tie within that.

XGBoost's and LightGBM's scikit-learn estimators (alone or at the end of a pipeline) are
converted by onnxmltools' converters, registered with skl2onnx when a model holds one; their
native boosters become such estimators first (:func:`sklearn_api`).

A compiled model is checked against the estimator on probe rows before it is used; anything
that fails to convert, to load or to agree is reported, and the caller keeps scikit-learn.
Runs in the cache-preparing child process (see :mod:`modelyard.inference.prepare`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PROBABILITY_TOLERANCE = 1e-5


class NotCompilableError(Exception):
    """The model cannot be compiled to an equivalent ONNX graph; the reason says why."""


@dataclass(frozen=True)
class Compiled:
    onnx_bytes: bytes
    input_dtype: str  # "float64" or "float32": what the graph's input takes
    output: str  # "probabilities" or "label"/"variable": the output the predictor reads


def takes_matrix(estimator: Any, names: tuple[str, ...]) -> bool:
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
        expected = names
        if type(part).__module__.startswith("lightgbm."):
            # LightGBM keeps the names with each whitespace character made an underscore
            expected = tuple("".join("_" if c.isspace() else c for c in n) for n in names)
        if type(part).__name__ == "ColumnTransformer" or tuple(map(str, fitted)) != expected:
            return False
    for part in parts:
        if "feature_names_in_" in vars(part):
            del part.feature_names_in_
    return True


def compile_sklearn(estimator: Any, probe: np.ndarray) -> Compiled:
    """An ONNX graph equivalent to ``estimator`` on float64 matrices, checked on ``probe``.

    ``estimator`` is a fitted scikit-learn estimator or pipeline, which may end in an
    XGBoost or LightGBM scikit-learn estimator (``XGBClassifier``, ``LGBMRegressor``...).
    """
    try:
        from skl2onnx import to_onnx
    except ImportError as exc:
        raise NotCompilableError("skl2onnx is not installed") from exc
    from sklearn.base import is_classifier

    convertible = _convertible(estimator)
    steps = [step for _, step in getattr(convertible, "steps", None) or []] or [convertible]
    for step in steps:
        _register_converter(step)
    _lower_thresholds(steps[-1])
    classifier = is_classifier(estimator)
    options: dict[Any, Any] = {}
    for step in steps:
        if type(step).__name__ == "StandardScaler":
            options[type(step)] = {"div": "div"}  # Sub and Div in float64, as scikit-learn
    if classifier:
        options[type(steps[-1])] = {"zipmap": False}
    if any(type(step).__name__ == "SimpleImputer" for step in steps):
        probe = with_missing_values(probe)

    # (input dtype, whether tree ensembles' float32 scores are cast back to float64): some
    # converters (gradient boosting, XGBoost, LightGBM) declare float64 scores that ONNX's
    # tree ensembles cannot produce, others (forests) already expect float32 ones.
    attempts: list[tuple[str, np.dtype[Any], bool]] = [
        ("float64", np.dtype(np.float64), False),
        ("float64", np.dtype(np.float64), True),
    ]
    if len(steps) == 1:
        attempts.append(("float32", np.dtype(np.float32), False))
    reasons: list[str] = []
    for name, dtype, cast_back in attempts:
        try:
            model = to_onnx(
                convertible,
                probe[:1].astype(dtype),
                options=options,
                target_opset=_target_opset(steps[-1]),
            )
            trees = dtype == np.float64 and _cast_tree_inputs(model, cast_back)
            if cast_back and not trees:
                continue  # no tree ensemble: the first float64 attempt said it all
            compiled = Compiled(
                model.SerializeToString(),
                name,
                "probabilities" if classifier and hasattr(estimator, "predict_proba") else "",
            )
            _check(estimator, compiled, probe)
            return compiled
        except NotCompilableError as exc:
            reasons.append(f"{name}: {exc}")
        except Exception as exc:  # skl2onnx and onnxruntime raise many kinds of errors
            reasons.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    raise NotCompilableError("; ".join(reasons))


def _convertible(estimator: Any) -> Any:
    """What skl2onnx converts for ``estimator``: the same model, but for its final step.

    A final label-encoding wrapper (``EncodedLabels``, which training puts around XGBoost's
    classifier) is replaced by the estimator it wraps: it only renames the labels, and the
    probability columns are the wrapped estimator's (the labels come from ``classes_``). An
    XGBoost model fitted on named columns is converted from a copy without the names, which
    onnxmltools cannot read (the graph takes the columns by position).
    """
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    if type(final).__name__ == "EncodedLabels" and hasattr(final, "estimator_"):
        final = final.estimator_
    named = hasattr(final, "get_booster") and final.get_booster().feature_names is not None
    if named and type(final).__module__.startswith("xgboost."):
        final = copy.deepcopy(final)
        final.get_booster().feature_names = None
    if not steps:
        return final
    if final is steps[-1][1]:
        return estimator
    from sklearn.pipeline import Pipeline

    return Pipeline([*steps[:-1], (steps[-1][0], final)])


def _register_converter(step: Any) -> None:
    """Register with skl2onnx the converter this module has for ``step``'s type, if any:
    onnxmltools' for XGBoost and LightGBM (without it, skl2onnx refuses them as models it
    does not know), the float64 one below for SimpleImputer."""
    package = type(step).__module__.partition(".")[0]
    if package in ("xgboost", "lightgbm"):
        with contextlib.suppress(ImportError):  # onnxmltools missing: refused as unknown
            _register(package)
    elif type(step).__name__ == "SimpleImputer" and package == "sklearn":
        _register("sklearn")


def _target_opset(final: Any) -> dict[str, int] | None:
    """The opsets to convert to: onnxmltools' tree converters write ONNX-ML opset 3 trees,
    and refuse a later ONNX-ML opset; anything else gets skl2onnx's default."""
    if type(final).__module__.partition(".")[0] not in ("xgboost", "lightgbm"):
        return None
    from skl2onnx import get_latest_tested_opset_version

    return {"": get_latest_tested_opset_version(), "ai.onnx.ml": 3}


@functools.cache
def _register(package: str) -> None:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    if package == "sklearn":
        from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
        from sklearn.impute import SimpleImputer

        update_registered_converter(
            SimpleImputer,
            "SklearnSimpleImputer",
            calculate_sklearn_imputer_output_shapes,
            _convert_simple_imputer,
        )
        return
    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    if package == "xgboost":
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
    else:
        from lightgbm import LGBMClassifier, LGBMRegressor

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            _convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            _convert_lightgbm,
        )


def _convert_simple_imputer(scope: Any, operator: Any, container: Any) -> None:
    """A fitted SimpleImputer as ``Where(missing, statistics, x)``, in the input's precision."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.common import concatenate_variables

    imputer = operator.raw_operator
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(statistics).any() or not isinstance(imputer.missing_values, float):
        raise NotCompilableError("a SimpleImputer that drops columns or imputes non-NaN values")
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    source = concatenate_variables(scope, operator.inputs, container)
    fill = scope.get_unique_variable_name("statistics")
    container.add_initializer(
        fill,
        TensorProto.DOUBLE if double else TensorProto.FLOAT,
        [1, statistics.size],
        statistics.tolist() if double else statistics.astype(np.float32).tolist(),
    )
    missing = scope.get_unique_variable_name("missing")
    if np.isnan(imputer.missing_values):
        container.add_node(
            "IsNaN", [source], [missing], name=scope.get_unique_operator_name("IsNaN")
        )
    else:
        value = scope.get_unique_variable_name("missing_value")
        container.add_initializer(
            value, TensorProto.DOUBLE if double else TensorProto.FLOAT, [], [imputer.missing_values]
        )
        container.add_node(
            "Equal", [source, value], [missing], name=scope.get_unique_operator_name("Equal")
        )
    container.add_node(
        "Where",
        [missing, fill, source],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Where"),
    )


def _convert_lightgbm(scope: Any, operator: Any, container: Any) -> None:
    """onnxmltools' LightGBM converter, with float64 thresholds for a float64 input."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(operator.inputs[0].type, DoubleTensorType):
        container = _Float64Thresholds(container)
    convert_lightgbm(scope, operator, container)


class _Float64Thresholds:
    """A converter's container that writes tree ensembles' thresholds as float64 tensors
    (``nodes_values_as_tensor``, ONNX-ML opset 3) instead of float32 lists."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, *args: Any, **attrs: Any) -> Any:
        if op_type.startswith("TreeEnsemble") and "nodes_values" in attrs:
            from onnx import numpy_helper

            values = np.asarray(attrs.pop("nodes_values"), dtype=np.float64)
            attrs["nodes_values_as_tensor"] = numpy_helper.from_array(values)
            attrs["op_version"] = max(int(attrs.get("op_version") or 1), 3)
        return self._container.add_node(op_type, *args, **attrs)


def with_missing_values(probe: np.ndarray, seed: int = 0) -> np.ndarray:
    """``probe`` and as many rows again with values missing (NaN), for models that impute:
    one column missing in each of the first rows, a random quarter of the values after."""
    rng = np.random.default_rng(seed)
    missing = probe.copy()
    columns = probe.shape[1]
    one = np.arange(min(len(missing), columns * 8))
    missing[one, one % columns] = np.nan
    rest = missing[len(one) :]
    rest[rng.random(rest.shape) < 0.25] = np.nan
    return np.vstack([probe, missing])


def sklearn_api(model: Any) -> Any:
    """``model`` as a scikit-learn estimator that :func:`compile_sklearn` takes.

    MLflow's xgboost and lightgbm flavors load a model trained with the library's native API
    as an ``xgboost.Booster`` or ``lightgbm.Booster``, which scores only the library's own
    data structures; it becomes the library's scikit-learn classifier (integer classes
    ``0..n-1``) or regressor around the same trees. Anything else is returned as it is,
    boosters with an objective that is neither (ranking, survival) included.
    """
    kind = type(model)
    if kind.__name__ != "Booster":
        return model
    if kind.__module__.startswith("xgboost."):
        return _xgboost_estimator(model)
    if kind.__module__.startswith("lightgbm."):
        return _lightgbm_estimator(model)
    return model


def _xgboost_estimator(booster: Any) -> Any:
    import json

    from xgboost import XGBClassifier, XGBRegressor

    objective = str(json.loads(booster.save_config())["learner"]["objective"]["name"])
    if objective.startswith(("binary:", "multi:")):
        estimator: Any = XGBClassifier()
    elif objective.startswith(("reg:", "count:")):
        estimator = XGBRegressor()
    else:
        return booster
    estimator.load_model(booster.save_raw("ubj"))  # restores classes from the objective
    return estimator


def _lightgbm_estimator(booster: Any) -> Any:
    """A LightGBM estimator fitted on a few rows of the booster's shape, holding the booster's
    trees: LightGBM has no public way to wrap a trained booster."""
    from lightgbm import LGBMClassifier, LGBMRegressor

    objective = str(booster.params.get("objective", ""))
    width = booster.num_feature()
    classes = booster.num_model_per_iteration()
    if objective.startswith(("multiclass", "softmax", "multiclassova", "binary")):
        count = max(classes, 2)
        rows = np.tile(np.arange(count, dtype=np.float64)[:, None], (4, width))
        estimator: Any = LGBMClassifier(objective=objective, n_estimators=1, verbose=-1)
        estimator.fit(rows, np.tile(np.arange(count), 4))
    elif objective.startswith(("regression", "huber", "fair", "quantile", "mape", "poisson")):
        rows = np.tile(np.arange(4, dtype=np.float64)[:, None], (2, width))
        estimator = LGBMRegressor(objective=objective, n_estimators=1, verbose=-1)
        estimator.fit(rows, np.tile(np.arange(4.0), 2))
    else:
        return booster
    estimator._Booster = booster
    return estimator


def _lower_thresholds(estimator: Any) -> None:
    """Lower every split threshold to the largest float32 not above it (see module doc)."""
    found = getattr(estimator, "estimators_", None)
    trees = np.ravel(found).tolist() if found is not None else [estimator]
    for tree in trees:
        inner = getattr(tree, "tree_", None)
        if inner is None:
            continue
        thresholds = inner.threshold
        lowered = thresholds.astype(np.float32)
        above = lowered.astype(np.float64) > thresholds
        lowered[above] = np.nextafter(lowered[above], np.float32(-np.inf))
        thresholds[:] = lowered.astype(np.float64)


def _cast_tree_inputs(model: Any, cast_scores_back: bool = False) -> bool:
    """Put a Cast to float32 in front of every tree ensemble node of ``model``.

    An ensemble with float64 thresholds (``nodes_values_as_tensor``) takes its float64
    input as it is. With ``cast_scores_back``, the ensembles' score outputs (all but a
    classifier's label) are also cast to float64 for the nodes after them. Returns whether
    any node was found.
    """
    from onnx import TensorProto, helper

    nodes = list(model.graph.node)
    rebuilt: list[Any] = []
    found = False
    for node in nodes:
        after: list[Any] = []
        if node.op_type.startswith("TreeEnsemble"):
            found = True
            if not any(a.name == "nodes_values_as_tensor" for a in node.attribute):
                source = node.input[0]
                cast = f"{source}_float32_{len(rebuilt)}"
                rebuilt.append(
                    helper.make_node(
                        "Cast", [source], [cast], to=TensorProto.FLOAT, name=f"{node.name}_cast"
                    )
                )
                node.input[0] = cast
            scores = node.output[1:] if node.op_type == "TreeEnsembleClassifier" else node.output
            for index, output in enumerate(list(scores) if cast_scores_back else []):
                single = f"{output}_float32"
                after.append(
                    helper.make_node(
                        "Cast",
                        [single],
                        [output],
                        to=TensorProto.DOUBLE,
                        name=f"{node.name}_cast_back_{index}",
                    )
                )
                position = list(node.output).index(output)
                node.output[position] = single
        rebuilt.append(node)
        rebuilt.extend(after)
    del model.graph.node[:]
    model.graph.node.extend(rebuilt)
    return found


def _check(estimator: Any, compiled: Compiled, probe: np.ndarray) -> None:
    """Refuse a graph whose answers on ``probe`` differ from the estimator's."""
    from modelyard.inference.runtime import OnnxModel

    runtime = OnnxModel(compiled.onnx_bytes, compiled.input_dtype, compiled.output)
    got = runtime.run(probe)
    if compiled.output == "probabilities":
        expected = np.asarray(estimator.predict_proba(probe), dtype=np.float64)
        if got.shape != expected.shape:
            raise NotCompilableError(
                f"probabilities of shape {got.shape}, expected {expected.shape}"
            )
        gap = float(np.abs(got - expected).max())
        if gap > PROBABILITY_TOLERANCE:
            raise NotCompilableError(f"probabilities differ from scikit-learn's by {gap:.2e}")
        ordered = np.sort(expected, axis=1)
        clear = ordered[:, -1] - ordered[:, -2] > PROBABILITY_TOLERANCE
        differ = (got.argmax(axis=1) != expected.argmax(axis=1)) & clear
        if differ.any():
            raise NotCompilableError(f"{int(differ.sum())} labels differ from scikit-learn's")
        return
    expected = np.asarray(estimator.predict(probe))
    values = got.reshape(expected.shape)
    if expected.dtype.kind in "fc":
        if not np.allclose(values, expected, rtol=1e-5, atol=1e-6):
            raise NotCompilableError("predictions differ from scikit-learn's")
    elif not np.array_equal(values, expected):
        raise NotCompilableError("predicted labels differ from scikit-learn's")


def probe_rows(example: np.ndarray, count: int = 4000, seed: int = 0) -> np.ndarray:
    """Rows to compare a compiled model with its estimator on, around the logged example.

    Half are spread uniformly over the example's range (widened), half are the same rounded
    to one decimal, as measured data often is: values on a grid land exactly on the split
    thresholds trees learn from such data, where float precision matters most.
    """
    rng = np.random.default_rng(seed)
    low = example.min(axis=0)
    high = example.max(axis=0)
    span = np.maximum(high - low, np.maximum(np.abs(high), 1.0))
    low, high = low - span, high + span
    spread = rng.uniform(low, high, size=(count // 2, example.shape[1]))
    return np.vstack([example, spread, np.round(spread, 1)])
