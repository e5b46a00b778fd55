"""Placeholder until this area's commands land."""

import typer



def serve() -> None:
    """Not available yet."""
    raise typer.Exit(2)
