"""Converters that skl2onnx does not have, or has in a form that does not score exactly.

- onnxmltools' XGBoost and LightGBM converters, registered with skl2onnx for the libraries'
  scikit-learn estimators (:func:`register_converter`); LightGBM's with float64 thresholds
  for a float64 input, as LightGBM compares them.
- SimpleImputer as ``Where(IsNaN(x), statistics, x)`` in the input's own precision (ONNX
  Runtime has no float64 kernel for skl2onnx's Imputer).
- Native XGBoost and LightGBM boosters as the libraries' scikit-learn estimators
  (:func:`sklearn_api`), which the converters take.

See :mod:`modelyard.inference.compiling` for why exactness matters and how it is checked.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import numpy as np


def register_converter(step: Any) -> None:
    """Register with skl2onnx the converter this module has for ``step``'s type, if any:
    onnxmltools' for XGBoost and LightGBM (without it, skl2onnx refuses them as models it
    does not know), the float64 one below for SimpleImputer."""
    package = type(step).__module__.partition(".")[0]
    if package in ("xgboost", "lightgbm"):
        with contextlib.suppress(ImportError):  # onnxmltools missing: refused as unknown
            _register(package)
    elif type(step).__name__ == "SimpleImputer" and package == "sklearn":
        _register("sklearn")


def target_opset(final: Any) -> dict[str, int] | None:
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
        from modelyard.inference.compiling import NotCompilableError

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
