"""Commands of the streaming area: ``worker``, ``stream`` and ``db upgrade``/``db current``.

Heavy imports (SQLAlchemy, Alembic, scikit-learn, MLflow) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.boundary import cli_errors

db_app = typer.Typer(
    help="The predictions database: migrations and schema version.", no_args_is_help=True
)


def worker(
    *,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Rows per scored batch (default: MODELYARD_WORKER_BATCH_SIZE)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, help="Port of /metrics, 0 = off (default: MODELYARD_WORKER_METRICS_PORT)."
        ),
    ] = None,
) -> None:
    """Score new observations in the database with the served model, exactly once each."""
    from modelyard.config import get_settings
    from modelyard.logs import configure_logging

    with cli_errors():
        overrides: dict[str, object] = {}
        if batch_size is not None:
            overrides["worker_batch_size"] = batch_size
        if metrics_port is not None:
            overrides["worker_metrics_port"] = metrics_port
        settings = get_settings(**overrides)
        configure_logging("worker", settings.log_level)
        import threading

        from modelyard.streaming.service import run_worker, stop_on_signals

        with stop_on_signals(threading.Event()) as stop:
            run_worker(settings, stop)


def stream(
    *,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Replay this CSV instead of the rows the training pipeline holds out "
            "(conf/base/parameters_training.yml).",
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Label column of the CSV (omit: the CSV has no labels).")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Rows per second; 0 = as fast as the database takes them "
            "(default: MODELYARD_STREAM_RATE).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Rows in all (default: endless).")
    ] = None,
    label_delay: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds until a row's true label is written "
            "(default: MODELYARD_STREAM_LABEL_DELAY).",
        ),
    ] = None,
    labels: Annotated[bool, typer.Option(help="Write the true labels at all.")] = True,
    shift: Annotated[
        float,
        typer.Option(
            help="Add this to every numeric feature value, to show drift: 0.5 moves the "
            "iris measurements by 5 mm and raises drift alerts within one drift window.",
        ),
    ] = 0.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per INSERT at rate 0.")] = 1000,
    source: Annotated[str | None, typer.Option(help="Value of observations.source.")] = None,
) -> None:
    """Replay a data set into the observations table, cycling through it."""
    from modelyard.config import get_settings
    from modelyard.logs import configure_logging

    with cli_errors():
        settings = get_settings()
        configure_logging("stream", settings.log_level)
        import threading

        from modelyard.streaming.producer import StreamOptions
        from modelyard.streaming.replay import csv_replay, holdout_in_child
        from modelyard.streaming.service import run_stream, stop_on_signals

        replay = csv_replay(csv.expanduser(), target) if csv is not None else holdout_in_child()
        options = StreamOptions(
            rate=settings.stream_rate if rate is None else rate,
            limit=limit,
            label_delay=settings.stream_label_delay if label_delay is None else label_delay,
            labels=labels,
            shift=shift,
            batch_size=batch_size,
            source=source,
        )
        with stop_on_signals(threading.Event()) as stop:
            run_stream(settings, replay, options, stop)


@db_app.command()
def upgrade(
    revision: Annotated[
        str, typer.Argument(help="Migration to reach (default: the newest).")
    ] = "head",
) -> None:
    """Create or migrate the predictions database (MODELYARD_DATABASE_URL)."""
    from modelyard.config import get_settings
    from modelyard.logs import configure_logging

    with cli_errors():
        settings = get_settings()
        configure_logging("db", settings.log_level)
        from modelyard.db.engine import make_engine
        from modelyard.db.migrate import safe_url, upgrade_database

        engine = make_engine(settings.db_url)
        try:
            reached = upgrade_database(engine, revision)
        finally:
            engine.dispose()
        typer.echo(f"{safe_url(engine)} is at revision {reached}")


@db_app.command()
def current() -> None:
    """Show the schema revision of the predictions database and whether it is up to date."""
    from modelyard.config import get_settings

    with cli_errors():
        settings = get_settings()
        from modelyard.db.engine import make_engine
        from modelyard.db.migrate import head_revision, read_revision, safe_url

        engine = make_engine(settings.db_url)
        try:
            found = read_revision(engine)
        finally:
            engine.dispose()
        head = head_revision()
        state = "up to date" if found == head else f"behind {head}: run `modelyard db upgrade`"
        typer.echo(f"{safe_url(engine)}: revision {found or 'none'} ({state})")
