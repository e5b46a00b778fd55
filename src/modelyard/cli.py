"""The ``modelyard`` command: one Typer app gathering each area's commands.

Every area keeps its commands in its own ``cli`` module; those import their heavy
dependencies inside the command bodies, so ``modelyard --help`` and ``modelyard serve``
work with the base dependencies alone (the serving image), and a command whose extra is
not installed says which one to install.
"""

from __future__ import annotations

import click
import typer

from modelyard.dashboard import cli as dashboard_cli
from modelyard.deploy import cli as deploy_cli
from modelyard.extras import extra_for, lacking
from modelyard.serving import cli as serving_cli
from modelyard.streaming import cli as streaming_cli
from modelyard.training import cli as training_cli

app = typer.Typer(
    name="modelyard",
    help="Train, track, register, serve and watch a model: the whole MLOps loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command()(deploy_cli.up)
app.command()(deploy_cli.mlflow)
app.command()(training_cli.train)
app.command()(training_cli.promote)
app.command()(training_cli.rollback)
app.command()(serving_cli.serve)
app.command()(streaming_cli.worker)
app.command()(streaming_cli.stream)
app.add_typer(streaming_cli.db_app, name="db")
app.command()(dashboard_cli.ui)
app.command()(dashboard_cli.viz)


# Kedro's own CLI (`kedro run` in this project) looks for a click group named `cli` in the
# package's cli module to add project commands; modelyard adds none there.
cli = click.Group(name="modelyard-kedro", help="No project-specific Kedro commands.")


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:
        module, extra = extra_for(exc)
        if extra is None:
            raise
        typer.echo(f"modelyard: this command needs {lacking(module, extra)}", err=True)
        raise SystemExit(2) from None
