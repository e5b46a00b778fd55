"""``modelyard score``: batch scoring for people outside Kedro, on the pipeline's own nodes.

Exit codes: 0 every row was scored; 3 the run finished but some rows were rejected (they
are in the rejects file, or the database's scoring failures); 1 the run could not be done
(an unreadable input, columns that do not match, an output that exists, an unknown model);
2 it could not run as invoked (a bad option or setting, a missing extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.boundary import CANNOT_RUN, cli_errors, fail

REJECTED = 3


def score(
    *,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="A CSV or Parquet file, a folder of images (image models), or `database` "
            "(MODELYARD_DATABASE_URL's pending observations) or a database URL.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="CSV or Parquet file to write (by its suffix); not with a database, whose "
            "predictions go to its predictions table.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="name@ref or ref: a version, an alias, a models:/ or runs:/ URI, a run or "
            "logged-model id, or a folder (default: MODELYARD_MODEL_REF of "
            "MODELYARD_MODEL_NAME).",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Input columns to carry into the output, comma separated (default: every "
            "column that is not a feature; '' for none)."
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="CSV file for the rows that cannot be scored, with the reason "
            "(default: <output name>.rejects.csv beside the output)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output and rejects file.")
    ] = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Rows per chunk (default: MODELYARD_BATCH_CHUNK_ROWS)."),
    ] = None,
    top_k: Annotated[
        int, typer.Option(min=1, help="Classes written per image, for image models.")
    ] = 5,
    track: Annotated[
        bool,
        typer.Option(help="Record the run in MLflow (experiment <model>-batch)."),
    ] = True,
) -> None:
    """Score a file, an image folder or the database's pending rows with a registered model.

    Exit code: 0 all rows scored, 3 some rows rejected, 1 refused, 2 a bad option or setting.
    """
    from modelyard.config import get_settings
    from modelyard.logs import configure_logging

    with cli_errors():
        settings = get_settings()
        if input is None:
            fail("--input: name a CSV or Parquet file, a folder of images or database", CANNOT_RUN)
        configure_logging("score", settings.log_level)
        from modelyard.batch.job import run_plan
        from modelyard.batch.layout import parse_keys
        from modelyard.batch.models import load_batch_model
        from modelyard.batch.plan import BatchRequest, check_request, plan_batch

        request = BatchRequest(
            input=input,
            output=output,
            rejects=rejects,
            keys=parse_keys(key),
            chunk_rows=chunk_rows or settings.batch_chunk_rows,
            top_k=top_k,
            overwrite=overwrite,
        )
        check_request(request)  # a bad input or output is refused before the model loads
        loaded = load_batch_model(settings, model)
        plan = plan_batch(loaded, request)
        summary = run_plan(loaded, plan, settings)
        typer.echo(summary.describe(), err=True)
        if track:
            from modelyard.batch.tracking import record_batch_run
            from modelyard.training.tracking import TrackingTarget

            record_batch_run(TrackingTarget.from_settings(settings), summary)
    if not summary.clean:
        raise typer.Exit(REJECTED)
