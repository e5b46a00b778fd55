"""Commands that run the stack: ``up`` (everything, locally) and ``mlflow`` (tracking server)."""

from __future__ import annotations

import os

import typer

from modelyard.boundary import cli_errors
from modelyard.config import get_settings
from modelyard.extras import require_extras
from modelyard.logs import configure_logging


def up(  # noqa: PLR0917 - Typer takes options as parameters
    train: bool = typer.Option(True, help="Train the demo models when no champion exists."),
    images: bool = typer.Option(
        True, help="Include the image demo (the digits classifier) in the training."
    ),
    stream: bool = typer.Option(True, help="Replay the demo stream into the database."),
    ui: bool = typer.Option(True, help="Start the dashboard."),
    viz: bool = typer.Option(True, help="Start Kedro-Viz."),
    monitoring: bool = typer.Option(
        False, help="Start Prometheus and Alertmanager (Debian's packages) watching the stack."
    ),
    timeout: float = typer.Option(180.0, help="Seconds each service may take to become healthy."),
) -> None:
    """Start the local stack (MLflow, training, API, worker, stream, dashboard, Kedro-Viz)."""
    from modelyard.deploy.local_stack import StackOptions, child_env, run_stack
    from modelyard.deploy.supervisor import Supervisor

    with cli_errors():
        settings = get_settings()
        configure_logging("up", settings.log_level)
        options = StackOptions(
            train=train,
            images=images,
            stream=stream,
            ui=ui,
            viz=viz,
            monitoring=monitoring,
            startup_timeout=timeout,
        )
        code = run_stack(settings, options, Supervisor(child_env(settings)))
    raise typer.Exit(code)


def mlflow(
    access_log: bool = typer.Option(True, help="Log one line per HTTP request."),
) -> None:
    """Run the MLflow tracking server with the configured stores (artifacts served over HTTP),
    behind MLflow's login when MODELYARD_MLFLOW_AUTH is on."""
    from modelyard.deploy.mlflow_server import (
        mlflow_server_argv,
        mlflow_server_env,
        prepare_local_stores,
        reset_metrics_dir,
        write_auth_config,
    )

    with cli_errors():
        require_extras("mlflow")  # the server it execs would fail on its first import
        settings = get_settings()
        configure_logging("mlflow", settings.log_level)
        prepare_local_stores(settings)
        reset_metrics_dir(settings)
        if settings.mlflow_auth:
            write_auth_config(settings)
        argv = mlflow_server_argv(settings, access_log=access_log)
        env = mlflow_server_env(os.environ, settings)
    # the server replaces this process, so signals reach it directly
    os.execve(argv[0], argv, env)  # noqa: S606
