"""Placeholder until this area's commands land."""

import typer



def ui() -> None:
    """Not available yet."""
    raise typer.Exit(2)


def viz() -> None:
    """Not available yet."""
    raise typer.Exit(2)
