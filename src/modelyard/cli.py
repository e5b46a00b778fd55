"""The ``modelyard`` command: one Typer app gathering each area's commands.

Every area keeps its commands in its own ``cli`` module; those import their heavy
dependencies inside the command bodies, so ``modelyard --help`` and ``modelyard serve``
work with the base dependencies alone (the serving image), and a command whose extra is
not installed says which one to install.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperCommand, TyperGroup

from modelyard.batch import cli as batch_cli
from modelyard.boundary import cli_errors
from modelyard.dashboard import cli as dashboard_cli
from modelyard.deploy import cli as deploy_cli
from modelyard.security import cli as security_cli
from modelyard.serving import cli as serving_cli
from modelyard.streaming import cli as streaming_cli
from modelyard.training import cli as training_cli


def _untyped_flags(params: list[Any]) -> list[Any]:
    # Typer's help shows each option's type, so a flag (--help too) reads `--help <bool>`
    # as if it took a value; an empty metavar leaves a flag's type column blank.
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class HelpCommand(TyperCommand):
    """A command whose help shows no type beside a flag."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class HelpGroup(TyperGroup):
    """A group whose help shows no type beside a flag."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


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
app.command()(training_cli.retrain)
app.command()(training_cli.promote)
app.command()(training_cli.rollback)
app.command()(serving_cli.serve)
app.command()(security_cli.keygen)
app.command()(streaming_cli.worker)
app.command()(streaming_cli.stream)
app.command()(batch_cli.score)
app.add_typer(streaming_cli.db_app, name="db")
app.add_typer(training_cli.demo_app, name="demo")
app.command()(dashboard_cli.ui)
app.command()(dashboard_cli.viz)

# every group and command renders its help through the classes above
for _typer in (app, streaming_cli.db_app, training_cli.demo_app):
    _typer.info.cls = HelpGroup
    for _command in _typer.registered_commands:
        _command.cls = HelpCommand


# Kedro's own CLI (`kedro run` in this project) looks for a click group named `cli` in the
# package's cli module to add project commands; modelyard adds none there.
cli = click.Group(name="modelyard-kedro", help="No project-specific Kedro commands.")


def main() -> None:
    try:
        # a command whose imports need an extra fails before its own boundary is entered
        with cli_errors():
            app()
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
