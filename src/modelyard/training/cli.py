"""Placeholder until this area's commands land."""

import typer



def train() -> None:
    """Not available yet."""
    raise typer.Exit(2)


def promote() -> None:
    """Not available yet."""
    raise typer.Exit(2)


def rollback() -> None:
    """Not available yet."""
    raise typer.Exit(2)
