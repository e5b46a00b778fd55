"""The estimators training can fit, chosen by name, each behind a StandardScaler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelyard.errors import ConfigError


def _logistic_regression(**params: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**params)


def _random_forest(**params: Any) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**params)


def _gradient_boosting(**params: Any) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(**params)


ESTIMATORS: dict[str, Callable[..., Any]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}

# Types the skops format must be told to trust when loading these models; everything else
# in a modelyard pipeline is on skops' default trusted list.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


def build_pipeline(name: str, hyperparameters: Mapping[str, Any], scale: bool = True) -> Any:
    """An unfitted sklearn Pipeline: optional StandardScaler, then the named estimator."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    factory = ESTIMATORS.get(name)
    if factory is None:
        raise ConfigError(
            f"model.estimator: unknown estimator {name!r}; choose from {list(ESTIMATORS)}"
        )
    try:
        estimator = factory(**dict(hyperparameters))
    except TypeError as exc:
        raise ConfigError(f"model.hyperparameters.{name}: {exc}") from exc
    steps: list[tuple[str, Any]] = [("scaler", StandardScaler())] if scale else []
    steps.append(("estimator", estimator))
    return Pipeline(steps)


def skops_trusted_types(model: Any) -> list[str]:
    """The types skops does not trust by default that the fitted ``model`` contains.

    Only scikit-learn and numpy types are expected in a pipeline modelyard builds; anything
    else is refused rather than silently trusted.
    """
    import skops.io

    untrusted = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise ConfigError(f"the fitted model contains types skops cannot trust: {foreign}")
    return untrusted
