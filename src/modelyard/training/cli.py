"""``modelyard train``, ``promote VERSION``, ``rollback`` and ``demo images DIR``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.boundary import cli_errors
from modelyard.config import Settings, get_settings
from modelyard.logs import configure_logging


def train(
    *,
    estimator: Annotated[
        str | None,
        typer.Option(
            help="logistic_regression, random_forest, gradient_boosting, xgboost or lightgbm "
            "(the last two need their extras); with --images: logistic_regression, mlp or "
            "cnn (cnn needs the torch extra)."
        ),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(help="Train on this CSV file instead of the iris demo.")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="Train an image classifier on this folder: one sub-folder of JPEG/PNG "
            "images per class."
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Label column of the CSV.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="Override a training parameter: key=value (repeatable)."
        ),
    ] = None,
    if_no_champion: Annotated[
        bool,
        typer.Option("--if-no-champion", help="Train only when the model has no champion yet."),
    ] = False,
    model_name: Annotated[
        str | None,
        typer.Option(
            help="Registered model to add the version to (default: MODELYARD_MODEL_NAME if "
            "set, else the CSV's file name or the image folder's name, else iris)."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="With --estimator cnn: auto (the GPU when there is one), cpu or cuda."),
    ] = None,
    init_weights: Annotated[
        Path | None,
        typer.Option(
            help="With --estimator cnn: a local torchvision ResNet-18 state dict to start "
            "from (sets the resnet18 architecture)."
        ),
    ] = None,
) -> None:
    """Train a model through the Kedro pipeline, log it to MLflow and register a version."""
    from modelyard.training import train as run_training
    from modelyard.training.overrides import merge, parse_params
    from modelyard.training.run import IMAGES_PIPELINE, PIPELINE

    # Kedro's config loader calls an OmegaConf API that warns on every run; not actionable here.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    with cli_errors():
        settings = get_settings()
        configure_logging("train", settings.log_level)
        overrides = parse_params(param or [])
        pipeline = PIPELINE if images is None else IMAGES_PIPELINE
        if images is not None:
            _images_only(csv, target)
            overrides = merge(overrides, {"images": {"path": str(images)}})
        if estimator:
            section = "model" if images is None else "image_model"
            overrides = merge(overrides, {section: {"estimator": estimator}})
        overrides = merge(overrides, _cnn_options(images, device, init_weights))
        if csv is not None:
            overrides = merge(overrides, {"data": {"source": "csv", "path": str(csv)}})
        if target:
            overrides = merge(overrides, {"data": {"target": target}})
        if model_name is not None:
            overrides = merge(overrides, {"tracking": {"model_name": model_name}})
        if if_no_champion and (current := _current_champion(settings, overrides)) is not None:
            typer.echo(f"champion: version {current} (exists: nothing to train)")
            return
        result = run_training(settings, overrides, pipeline)
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    outcome = "promoted" if result.promoted else f"version {result.version} kept as challenger"
    typer.echo(f"model:    {result.model_name} ({result.model_name_source})")
    typer.echo(f"run:      {result.run_url}")
    typer.echo(f"version:  {result.model_name} version {result.version} ({result.estimator})")
    typer.echo(f"metrics:  {metrics}")
    typer.echo(f"champion: version {result.champion} ({outcome}: {result.reason})")


def retrain(
    *,
    observations: Annotated[
        int | None,
        typer.Option(
            min=0, help="Newest labelled observations of the database to add (default 10000)."
        ),
    ] = None,
    data_share: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Share of the original training data kept (default 1)."
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="Override a training parameter: key=value (repeatable)."
        ),
    ] = None,
    model_name: Annotated[
        str | None,
        typer.Option(help="Registered model to add the version to (MODELYARD_MODEL_NAME)."),
    ] = None,
    trigger: Annotated[
        int | None,
        typer.Option(
            min=1, help="Record the outcome on this retraining trigger (the worker passes it)."
        ),
    ] = None,
    scheduled: Annotated[
        bool,
        typer.Option(
            "--scheduled", help="Record it as a scheduled retraining (a CronJob's), not by hand."
        ),
    ] = False,
) -> None:
    """Train on the original data plus the labelled observations; register a challenger.

    The champion is never moved by a retraining: the new version is the challenger, which
    the worker then scores in the shadow and compares on live labels.
    """
    from modelyard.loop.outcome import recorded_retraining
    from modelyard.training import train as run_training
    from modelyard.training.overrides import merge, parse_params
    from modelyard.training.run import RETRAINING_PIPELINE

    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    with cli_errors():
        settings = get_settings()
        configure_logging("retrain", settings.log_level)
        overrides = parse_params(param or [])
        taken: dict[str, Any] = {}
        if observations is not None:
            taken["observations"] = observations
        if data_share is not None:
            taken["data_share"] = data_share
        if taken:
            overrides = merge(overrides, {"retrain": taken})
        if model_name is not None:
            overrides = merge(overrides, {"tracking": {"model_name": model_name}})
        name = model_name or settings.model_name
        with recorded_retraining(settings, name, trigger, scheduled=scheduled) as record:
            result = run_training(settings, overrides, RETRAINING_PIPELINE)
            record(result)
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    typer.echo(f"model:      {result.model_name}")
    typer.echo(f"run:        {result.run_url}")
    typer.echo(f"challenger: {result.model_name} version {result.version} ({result.estimator})")
    typer.echo(f"metrics:    {metrics}")
    typer.echo(f"champion:   version {result.champion} (unchanged: a retraining never promotes)")


ModelNameOption = Annotated[
    str | None, typer.Option(help="Registered model (default: MODELYARD_MODEL_NAME).")
]


def promote(
    version: Annotated[str, typer.Argument(help="Version number (or alias) to promote.")],
    model_name: ModelNameOption = None,
) -> None:
    """Move the champion alias to VERSION by hand (recorded, so rollback can undo it)."""
    from modelyard.loop.outcome import record_person_decision
    from modelyard.registry import Registry
    from modelyard.training.tracking import check_reachable

    with cli_errors():
        settings = _named(get_settings(), model_name)
        configure_logging("promote", settings.log_level)
        check_reachable(settings.tracking_uri, settings.mlflow_credentials)
        registry = Registry.from_settings(settings)
        before = registry.champion()
        after = registry.promote(version)
        record_person_decision(
            settings,
            action="promote",
            decided_by="cli",
            from_version=before.version if before else None,
            to_version=after.version,
        )
    _moved(registry.name, before.version if before else None, after.version)


def rollback(model_name: ModelNameOption = None) -> None:
    """Give the champion alias back to the version that held it before."""
    from modelyard.loop.outcome import record_person_decision
    from modelyard.registry import Registry
    from modelyard.training.tracking import check_reachable

    with cli_errors():
        settings = _named(get_settings(), model_name)
        configure_logging("rollback", settings.log_level)
        check_reachable(settings.tracking_uri, settings.mlflow_credentials)
        registry = Registry.from_settings(settings)
        before = registry.champion()
        after = registry.rollback()
        record_person_decision(
            settings,
            action="rollback",
            decided_by="cli",
            from_version=before.version if before else None,
            to_version=after.version,
        )
    _moved(registry.name, before.version if before else None, after.version)


def _named(settings: Settings, model_name: str | None) -> Settings:
    """``settings`` with ``--model-name`` in place of MODELYARD_MODEL_NAME, when given."""
    from modelyard.training.naming import check_name

    if model_name is None:
        return settings
    return settings.model_copy(update={"model_name": check_name(model_name, "--model-name")})


def _cnn_options(
    images: Path | None, device: str | None, init_weights: Path | None
) -> dict[str, Any]:
    """The cnn hyperparameters that --device and --init-weights set."""
    cnn: dict[str, Any] = {}
    if device is not None:
        cnn["device"] = device
    if init_weights is not None:
        cnn["init_weights"] = str(init_weights)
        cnn["architecture"] = "resnet18"
    if not cnn:
        return {}
    if images is None:
        from modelyard.errors import ConfigError

        raise ConfigError(
            "--device and --init-weights train the cnn image estimator: add --images DIR"
        )
    return {"image_model": {"hyperparameters": {"cnn": cnn}}}


def _images_only(csv: Path | None, target: str | None) -> None:
    from modelyard.errors import ConfigError

    if csv is not None:
        raise ConfigError("--images and --csv: train on one data set at a time")
    if target is not None:
        raise ConfigError("--target names a CSV's label column; an image's label is its folder")


def _current_champion(settings: Settings, overrides: dict[str, Any]) -> str | None:
    """The champion of the model this run would register to (None when it has none)."""
    from modelyard.registry import Registry
    from modelyard.training.naming import choose_model_name
    from modelyard.training.tracking import check_reachable

    chosen = choose_model_name(
        requested=(overrides.get("tracking") or {}).get("model_name"),
        configured=settings.model_name,
        configured_explicitly="model_name" in settings.model_fields_set,
        data=_data_of(overrides),
    )
    check_reachable(settings.tracking_uri, settings.mlflow_credentials)
    champion = Registry.from_settings(_named(settings, chosen.name)).champion()
    return champion.version if champion is not None else None


def _data_of(overrides: dict[str, Any]) -> dict[str, Any]:
    """What names the model, as :func:`~modelyard.training.naming.choose_model_name` reads it."""
    images = overrides.get("images") or {}
    if images.get("path"):
        return {"source": "images", "path": images["path"]}
    return dict(overrides.get("data") or {})


def _moved(name: str, before: str | None, after: str) -> None:
    if before == after:
        typer.echo(f"{name}@champion: version {after} (unchanged)")
    else:
        typer.echo(f"{name}@champion: version {before or '-'} -> version {after}")


demo_app = typer.Typer(
    name="demo",
    help="Write the bundled demo data sets.",
    no_args_is_help=True,
    add_completion=False,
)


@demo_app.command("images")
def demo_images(
    folder: Annotated[Path, typer.Argument(help="Folder to write <digit>/<index>.png into.")],
) -> None:
    """Write scikit-learn's digits (1,797 images, 10 classes) as 32x32 RGB PNG files."""
    from modelyard.training.images.demo import write_digits

    with cli_errors():
        settings = get_settings()
        configure_logging("demo", settings.log_level)
        try:
            counts = write_digits(folder)
        except OSError as exc:
            from modelyard.errors import ConfigError

            raise ConfigError(f"cannot write the demo images to {folder}: {exc}") from exc
    total = sum(counts.values())
    typer.echo(f"wrote {total} images of {len(counts)} classes to {folder}")
    typer.echo(f"train on them: modelyard train --images {folder}")
