"""Placeholder until this area's commands land."""

import typer



def worker() -> None:
    """Not available yet."""
    raise typer.Exit(2)


def stream() -> None:
    """Not available yet."""
    raise typer.Exit(2)


db_app = typer.Typer()
