"""The demo's two versions, trained for ``modelyard up`` in one process.

``python -m modelyard.deploy.demo`` trains a logistic-regression baseline (version 1), then
a random forest (version 2, which becomes ``champion``), as two ``modelyard train`` runs
would, but the second run reuses what the first imported (Kedro, scikit-learn, MLflow):
on two cores that is a quarter of a first start.
"""

from __future__ import annotations

import sys
import warnings

from modelyard.config import get_settings
from modelyard.errors import ModelyardError
from modelyard.logs import configure_logging

DEMO_ESTIMATORS = ("logistic_regression", "random_forest")


def main() -> int:
    from modelyard.training import train

    # Kedro's config loader calls an OmegaConf API that warns on every run; not actionable.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    settings = get_settings()
    configure_logging("train", settings.log_level)
    for estimator in DEMO_ESTIMATORS:
        try:
            result = train(settings, {"model": {"estimator": estimator}})
        except ModelyardError as exc:
            print(f"error: training the {estimator} model: {exc}", file=sys.stderr)  # noqa: T201
            return 1
        outcome = "promoted" if result.promoted else "kept as challenger"
        print(  # noqa: T201 - the step's result, as `modelyard train` prints it
            f"{result.model_name} version {result.version} ({estimator}) {outcome}: "
            f"champion is version {result.champion} ({result.reason})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
