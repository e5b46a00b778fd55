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
converted by onnxmltools' converters, registered with skl2onnx when a model holds one
(:mod:`modelyard.inference.converters`); their native boosters become such estimators first
(:func:`~modelyard.inference.converters.sklearn_api`).

A compiled model is checked against the estimator on probe rows before it is used; anything
that fails to convert, to load or to agree is reported, and the caller keeps scikit-learn.
Runs in the cache-preparing child process (see :mod:`modelyard.inference.prepare`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.inference.converters import register_converter, target_opset

if TYPE_CHECKING:
    from modelyard.inputs.tabular import FeatureSchema

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


def on_codes(estimator: Any, schema: FeatureSchema) -> Any | None:
    """The part of ``estimator`` that takes the validated matrix of a schema with categorical
    features (categories as codes), or None.

    That is the pipeline after its first step when that step turns the DataFrame of the
    features by name into exactly that matrix: a ColumnTransformer of one OrdinalEncoder over
    the schema's categories per categorical feature and a pass-through per numeric one, in the
    schema's order (the ``codes`` step training builds).
    """
    steps = getattr(estimator, "steps", None)
    if not schema.categorical or not steps or len(steps) < 2:
        return None
    first = steps[0][1]
    fitted = getattr(first, "transformers_", None)
    if type(first).__name__ != "ColumnTransformer" or fitted is None:
        return None
    parts = [(t, cols) for _, t, cols in fitted if not (t == "drop" or _empty(cols))]
    if len(parts) != len(schema.names):
        return None
    for name, (transformer, columns) in zip(schema.names, parts, strict=True):
        if list(np.atleast_1d(columns)) != [name]:
            return None
        if name in schema.categories:
            learned = getattr(transformer, "categories_", None)
            if type(transformer).__name__ != "OrdinalEncoder" or learned is None:
                return None
            if [str(c) for c in learned[0]] != list(schema.categories[name]):
                return None
        elif not _passes_through(transformer):
            return None
    from sklearn.pipeline import Pipeline

    rest = steps[1:]
    return rest[0][1] if len(rest) == 1 else Pipeline(rest)


def _passes_through(transformer: Any) -> bool:
    """Whether a fitted ColumnTransformer's part passes its column on unchanged (it keeps
    ``"passthrough"`` as a FunctionTransformer with no function)."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    return (
        type(transformer).__name__ == "FunctionTransformer"
        and getattr(transformer, "func", None) is None
    )


def _empty(columns: Any) -> bool:
    return hasattr(columns, "__len__") and len(columns) == 0


def category_probe(probe: np.ndarray, schema: FeatureSchema, seed: int = 1) -> np.ndarray:
    """``probe`` with each categorical feature's column replaced by codes of its categories
    (every one, then random ones): the only values such a column holds once validated."""
    rng = np.random.default_rng(seed)
    out = probe.copy()
    for j, name in enumerate(schema.names):
        if name in schema.categories:
            count = len(schema.categories[name])
            codes = rng.integers(0, count, size=len(out))
            codes[: min(count, len(out))] = np.arange(min(count, len(out)))
            out[:, j] = codes
    return out


def compile_sklearn(
    estimator: Any, probe: np.ndarray, missing: Sequence[int] | None = None
) -> Compiled:
    """An ONNX graph equivalent to ``estimator`` on float64 matrices, checked on ``probe``.

    ``estimator`` is a fitted scikit-learn estimator or pipeline, which may end in an
    XGBoost or LightGBM scikit-learn estimator (``XGBClassifier``, ``LGBMRegressor``...).
    A model that imputes is also checked on probe rows with values missing in the
    ``missing`` columns (default: all).
    """
    try:
        from skl2onnx import to_onnx
    except ImportError as exc:
        raise NotCompilableError("skl2onnx is not installed") from exc
    from sklearn.base import is_classifier

    convertible = _convertible(estimator)
    steps = [step for _, step in getattr(convertible, "steps", None) or []] or [convertible]
    parts = list(_leaves(convertible))
    for part in parts:
        register_converter(part)
    _lower_thresholds(steps[-1])
    classifier = is_classifier(estimator)
    options: dict[Any, Any] = {}
    for part in parts:
        if type(part).__name__ == "StandardScaler":
            options[type(part)] = {"div": "div"}  # Sub and Div in float64, as scikit-learn
    if classifier:
        options[type(steps[-1])] = {"zipmap": False}
    if any(type(part).__name__ == "SimpleImputer" for part in parts):
        probe = with_missing_values(probe, missing)

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
                target_opset=target_opset(steps[-1]),
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


def _leaves(estimator: Any) -> Iterator[Any]:
    """The steps of ``estimator``, and of the pipelines and column transformers in it."""
    steps = getattr(estimator, "steps", None)
    inner = getattr(estimator, "transformers_", None) or getattr(estimator, "transformers", None)
    if steps:
        for _, step in steps:
            yield from _leaves(step)
    elif type(estimator).__name__ == "ColumnTransformer" and inner:
        for _, transformer, _ in inner:
            yield from _leaves(transformer)
    else:
        yield estimator


def with_missing_values(
    probe: np.ndarray, columns: Sequence[int] | None = None, seed: int = 0
) -> np.ndarray:
    """``probe`` and as many rows again with values missing (NaN) in ``columns`` (default:
    all), for models that impute: one column missing in each of the first rows, a random
    quarter of the values after."""
    rng = np.random.default_rng(seed)
    missing = probe.copy()
    where = np.arange(probe.shape[1]) if columns is None else np.asarray(columns, dtype=np.intp)
    if where.size == 0:
        return probe
    one = np.arange(min(len(missing), where.size * 8))
    missing[one, where[one % where.size]] = np.nan
    rest = missing[len(one) :]
    mask = np.zeros(rest.shape, dtype=bool)
    mask[:, where] = rng.random((len(rest), where.size)) < 0.25
    rest[mask] = np.nan
    return np.vstack([probe, missing])


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
