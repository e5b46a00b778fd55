"""The estimators training can fit, chosen by name, behind optional preprocessing steps.

scikit-learn's own classifiers come with the ``sklearn`` extra; XGBoost and LightGBM with
the ``xgboost`` and ``lightgbm`` extras. XGBoost learns integer labels only, so its
classifier is wrapped in :class:`EncodedLabels`, which speaks the data's own labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from modelyard.errors import ConfigError, MissingExtraError
from modelyard.extras import lacking
from modelyard.inputs.tabular import FeatureSchema


def _logistic_regression(**params: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params)


def _random_forest(**params: Any) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**params)


def _gradient_boosting(**params: Any) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(**params)


def _xgboost(**params: Any) -> Any:
    try:
        from xgboost import XGBClassifier
    except ImportError as exc:
        raise _needs_extra("xgboost", exc) from exc
    return EncodedLabels(XGBClassifier(**params))


def _lightgbm(**params: Any) -> Any:
    try:
        from lightgbm import LGBMClassifier
    except ImportError as exc:
        raise _needs_extra("lightgbm", exc) from exc
    return LGBMClassifier(**params)  # it encodes string labels itself


def _needs_extra(name: str, exc: ImportError) -> MissingExtraError:
    return MissingExtraError(
        f"model.estimator: {name!r} needs {lacking(exc.name or name, name)}; "
        f"`uv sync --extra {name}` installs it"
    )


ESTIMATORS: dict[str, Callable[..., Any]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
}

# What ``model.impute`` may name: SimpleImputer's strategies.
IMPUTE_STRATEGIES = ("mean", "median", "most_frequent")

# Types the skops format must be told to trust when loading these models; everything else
# in a modelyard pipeline is on skops' default trusted list. LightGBM keeps its parameters
# in an OrderedDict.
_TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.",
    "xgboost.",
    "lightgbm.",
    f"{__name__}.EncodedLabels",
)
_TRUSTED_TYPES = ("collections.OrderedDict",)


def build_pipeline(
    name: str,
    hyperparameters: Mapping[str, Any],
    scale: bool = True,
    impute: str | None = None,
    schema: FeatureSchema | None = None,
) -> Any:
    """An unfitted sklearn Pipeline: optional SimpleImputer (``impute``: its strategy) and
    StandardScaler, in that order, then the named estimator.

    With categorical features (``schema.categories``) the pipeline takes a DataFrame of the
    features by name (categories as strings) and starts with two steps (see
    :func:`categorical_steps`): the categories become their codes, then one-hot columns,
    beside the numeric features through the imputer and scaler.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    factory = ESTIMATORS.get(name)
    if factory is None:
        raise ConfigError(
            f"model.estimator: unknown estimator {name!r}; choose from {list(ESTIMATORS)}"
        )
    if impute is not None and impute not in IMPUTE_STRATEGIES:
        raise ConfigError(
            f"model.impute: {impute!r} is not one of {list(IMPUTE_STRATEGIES)} or null"
        )
    try:
        estimator = factory(**dict(hyperparameters))
    except TypeError as exc:
        raise ConfigError(f"model.hyperparameters.{name}: {exc}") from exc
    steps: list[tuple[str, Any]] = []
    if impute is not None:
        steps.append(("imputer", SimpleImputer(strategy=impute)))
    if scale:
        steps.append(("scaler", StandardScaler()))
    if schema is not None and schema.categorical:
        numeric = Pipeline(steps) if steps else "passthrough"
        return Pipeline([*categorical_steps(schema, numeric), ("estimator", estimator)])
    steps.append(("estimator", estimator))
    return Pipeline(steps)


# The names of the two steps :func:`categorical_steps` makes.
CODES_STEP = "codes"
ENCODE_STEP = "encode"


def categorical_steps(schema: FeatureSchema, numeric: Any) -> list[tuple[str, Any]]:
    """The steps in front of an estimator for features some of which are categorical.

    ``codes`` takes the DataFrame of the features by name and gives the matrix serving's
    validator gives (:meth:`FeatureSchema.validate`): the features in the schema's order,
    each category as its code (an OrdinalEncoder over the schema's categories). ``encode``
    one-hot encodes the code columns and passes the numeric ones through ``numeric`` (the
    imputer and scaler, or ``"passthrough"``). A server that validated a request has that
    matrix already: it scores the pipeline from ``encode`` on, compiled to ONNX.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    per_feature = [
        (
            name,
            OrdinalEncoder(categories=[list(schema.categories[name])], dtype=np.float64)
            if name in schema.categories
            else "passthrough",
            [name],
        )
        for name in schema.names
    ]
    codes = ColumnTransformer(per_feature, verbose_feature_names_out=False)
    positions = [i for i, n in enumerate(schema.names) if n in schema.categories]
    others = [i for i, n in enumerate(schema.names) if n not in schema.categories]
    onehot = OneHotEncoder(
        categories=[
            np.arange(len(schema.categories[schema.names[i]]), dtype=np.float64) for i in positions
        ],
        handle_unknown="ignore",
        sparse_output=False,
    )
    parts: list[tuple[str, Any, list[int]]] = [("categorical", onehot, positions)]
    if others:
        parts.append(("numeric", numeric, others))
    return [(CODES_STEP, codes), (ENCODE_STEP, ColumnTransformer(parts))]


class EncodedLabels:
    """A classifier fitted on the positions of the labels rather than the labels themselves.

    For estimators that take integer labels only (XGBoost's): ``classes_``, ``predict`` and
    ``predict_proba`` speak the original labels, as every other estimator's do, and serving
    reports them. The fitted estimator is ``estimator_``; its probability columns are in
    ``classes_`` order. Written against scikit-learn's estimator protocol (``get_params``,
    ``__sklearn_tags__``) so that this module needs no scikit-learn to import.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"estimator": self.estimator}
        if deep and hasattr(self.estimator, "get_params"):
            inner = self.estimator.get_params(deep=True)
            params.update({f"estimator__{key}": value for key, value in inner.items()})
        return params

    def set_params(self, **params: Any) -> EncodedLabels:
        unknown = [k for k in params if k != "estimator" and not k.startswith("estimator__")]
        if unknown:
            raise ValueError(f"invalid parameters for EncodedLabels: {unknown}")
        if "estimator" in params:
            self.estimator = params.pop("estimator")
        if params:
            self.estimator.set_params(
                **{k.removeprefix("estimator__"): v for k, v in params.items()}
            )
        return self

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(allow_nan=True),
        )

    def fit(self, x: Any, y: Any, **fit_params: Any) -> EncodedLabels:
        from sklearn.base import clone

        self.classes_, positions = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(x, positions, **fit_params)
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.classes_[np.asarray(self.estimator_.predict(x), dtype=np.intp)])

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(x))

    def __repr__(self) -> str:
        return f"EncodedLabels({self.estimator!r})"


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops does not trust by default that the fitted ``model`` contains.

    Only scikit-learn, numpy, XGBoost and LightGBM types (and the wrapper above) are
    expected in a pipeline modelyard builds; anything else is refused rather than silently
    trusted.
    """
    import skops.io

    untrusted = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    foreign = [
        t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES) and t not in _TRUSTED_TYPES
    ]
    if foreign:
        raise ConfigError(f"the fitted model contains types skops cannot trust: {foreign}")
    return untrusted
