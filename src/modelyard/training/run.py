"""Running a training pipeline in a real Kedro session, from Python or the CLI.

``training`` trains on tabular data (iris or a CSV), ``training_images`` on an image folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.training.result import TrainResult

log = logging.getLogger(__name__)

PIPELINE = "training"
IMAGES_PIPELINE = "training_images"
RETRAINING_PIPELINE = "retraining"
PIPELINES = (PIPELINE, IMAGES_PIPELINE, RETRAINING_PIPELINE)
# Sections whose keys are open-ended (estimator hyperparameters); elsewhere an override
# must name a parameter that exists, so that a typo is an error rather than ignored.
_OPEN_SECTIONS = {("model", "hyperparameters"), ("image_model", "hyperparameters")}


def _is_project(path: Path) -> bool:
    pyproject = path / "pyproject.toml"
    return (
        pyproject.is_file()
        and "[tool.kedro]" in pyproject.read_text(encoding="utf-8")
        and (path / "conf" / "base").is_dir()
    )


def project_path(settings: Settings) -> Path:
    """The Kedro project folder: the setting, else the checkout holding this package, else cwd."""
    if settings.kedro_project is not None:
        path = settings.kedro_project.expanduser().resolve()
        if not _is_project(path):
            raise ConfigError(
                f"MODELYARD_KEDRO_PROJECT: {path} has no pyproject.toml with [tool.kedro] "
                "and conf/base/"
            )
        return path
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in [*package_dir.parents, Path.cwd().resolve(), *Path.cwd().resolve().parents]:
        if _is_project(candidate):
            return candidate
    raise ConfigError(
        "cannot find the modelyard Kedro project (pyproject.toml with [tool.kedro] and "
        "conf/base/); run from the checkout or set MODELYARD_KEDRO_PROJECT"
    )


def check_overrides(overrides: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    """Refuse overrides naming parameters the pipeline does not have."""

    def walk(node: Mapping[str, Any], base: Any, path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            if path in _OPEN_SECTIONS:
                continue
            if not isinstance(base, Mapping) or key not in base:
                raise ConfigError(f"unknown training parameter {'.'.join(here)!r}")
            if isinstance(value, Mapping) and isinstance(base[key], Mapping):
                walk(value, base[key], here)

    walk(overrides, params, ())


def _base_params(root: Path) -> dict[str, Any]:
    """The project's parameters before overrides (after bootstrap_project)."""
    from kedro.framework.project import settings as project_settings

    loader = project_settings.CONFIG_LOADER_CLASS(
        conf_source=str(root / project_settings.CONF_SOURCE),
        **project_settings.CONFIG_LOADER_ARGS,
    )
    return dict(loader["parameters"])


def _quiet_telemetry() -> None:
    # Kedro's and MLflow's telemetry read these from the process environment.
    for key, value in (
        ("KEDRO_DISABLE_TELEMETRY", "true"),
        ("DO_NOT_TRACK", "1"),
        ("MLFLOW_ENABLE_TELEMETRY", "false"),
    ):
        os.environ.setdefault(key, value)


def train(
    settings: Settings, params: Mapping[str, Any] | None = None, pipeline: str = PIPELINE
) -> TrainResult:
    """Run ``pipeline`` (``training``, ``training_images`` or ``retraining``) with ``params``
    merged over conf/base; log and register."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.runner import SequentialRunner

    from modelyard.training.hooks import settings_for_run
    from modelyard.training.tracking import check_reachable

    if pipeline not in PIPELINES:
        raise ConfigError(f"pipeline: {pipeline!r} is not one of {list(PIPELINES)}")
    check_reachable(
        settings.tracking_uri, settings.mlflow_credentials
    )  # fail before fitting anything
    root = project_path(settings)
    _quiet_telemetry()
    bootstrap_project(root)
    overrides = dict(params or {})
    with (
        settings_for_run(settings),
        KedroSession.create(
            project_path=root, runtime_params=overrides or None, save_on_close=False
        ) as session,
    ):
        if overrides:
            check_overrides(overrides, _base_params(root))
        # Named, not defaulted: Kedro-Viz's run hook takes a runner it is not told about
        # for a parallel one, and warns on every run.
        outputs = session.run(pipeline_names=[pipeline], runner=SequentialRunner())
    return TrainResult.from_dict(outputs["training_result"].load())
