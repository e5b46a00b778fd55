"""``modelyard train``, ``modelyard promote VERSION`` and ``modelyard rollback``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from modelyard.boundary import cli_errors
from modelyard.config import Settings, get_settings
from modelyard.logs import configure_logging


def train(
    estimator: Annotated[
        str | None,
        typer.Option(help="logistic_regression, random_forest or gradient_boosting."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(help="Train on this CSV file instead of the iris demo.")
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
) -> None:
    """Train a model through the Kedro pipeline, log it to MLflow and register a version."""
    from modelyard.training import train as run_training
    from modelyard.training.overrides import merge, parse_params

    # Kedro's config loader calls an OmegaConf API that warns on every run; not actionable here.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    with cli_errors():
        settings = get_settings()
        configure_logging("train", settings.log_level)
        overrides = parse_params(param or [])
        if estimator:
            overrides = merge(overrides, {"model": {"estimator": estimator}})
        if csv is not None:
            overrides = merge(overrides, {"data": {"source": "csv", "path": str(csv)}})
        if target:
            overrides = merge(overrides, {"data": {"target": target}})
        if if_no_champion and (current := _current_champion(settings)) is not None:
            typer.echo(f"champion: version {current} (exists: nothing to train)")
            return
        result = run_training(settings, overrides)
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    outcome = "promoted" if result.promoted else f"version {result.version} kept as challenger"
    typer.echo(f"run:      {result.run_url}")
    typer.echo(f"version:  {result.model_name} version {result.version} ({result.estimator})")
    typer.echo(f"metrics:  {metrics}")
    typer.echo(f"champion: version {result.champion} ({outcome}: {result.reason})")


def promote(
    version: Annotated[str, typer.Argument(help="Version number (or alias) to promote.")],
) -> None:
    """Move the champion alias to VERSION by hand (recorded, so rollback can undo it)."""
    from modelyard.registry import Registry
    from modelyard.training.tracking import check_reachable

    with cli_errors():
        settings = get_settings()
        configure_logging("promote", settings.log_level)
        check_reachable(settings.tracking_uri)
        registry = Registry.from_settings(settings)
        before = registry.champion()
        after = registry.promote(version)
    _moved(registry.name, before.version if before else None, after.version)


def rollback() -> None:
    """Give the champion alias back to the version that held it before."""
    from modelyard.registry import Registry
    from modelyard.training.tracking import check_reachable

    with cli_errors():
        settings = get_settings()
        configure_logging("rollback", settings.log_level)
        check_reachable(settings.tracking_uri)
        registry = Registry.from_settings(settings)
        before = registry.champion()
        after = registry.rollback()
    _moved(registry.name, before.version if before else None, after.version)


def _current_champion(settings: Settings) -> str | None:
    from modelyard.registry import Registry
    from modelyard.training.tracking import check_reachable

    check_reachable(settings.tracking_uri)
    champion = Registry.from_settings(settings).champion()
    return champion.version if champion is not None else None


def _moved(name: str, before: str | None, after: str) -> None:
    if before == after:
        typer.echo(f"{name}@champion: version {after} (unchanged)")
    else:
        typer.echo(f"{name}@champion: version {before or '-'} -> version {after}")
