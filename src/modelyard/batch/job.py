"""Running a plan: a table chunk by chunk, an image folder, or the database's backlog.

Only one chunk is in memory at a time: it is read, scored, appended to the output (and its
rejects to the rejects file), and dropped. The files are put in place when the last chunk
is written; a run that fails leaves neither behind. A progress bar is drawn on a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelyard.batch.chunks import rejected_rows, score_chunk, scoring_threads
from modelyard.batch.layout import ROW, Layout
from modelyard.batch.plan import DatabasePlan, ImagePlan, Plan, TablePlan
from modelyard.batch.summary import BatchSummary
from modelyard.batch.tables import Malformed
from modelyard.batch.writers import TableWriter
from modelyard.config import Settings
from modelyard.inference.model import LoadedModel

if TYPE_CHECKING:
    import pandas as pd

MB = 1_000_000


def run_plan(model: LoadedModel, plan: Plan, settings: Settings) -> BatchSummary:
    """Score everything ``plan`` names with ``model``; the run's summary."""
    if isinstance(plan, TablePlan):
        return score_table(model, plan)
    if isinstance(plan, ImagePlan):
        from modelyard.batch.images import score_images

        return score_images(model, plan, settings)
    from modelyard.batch.database import score_database

    assert isinstance(plan, DatabasePlan)
    return score_database(model, plan, settings)


def score_table(model: LoadedModel, plan: TablePlan) -> BatchSummary:
    """Score a CSV or Parquet file into the output (and the rejects file)."""
    from modelyard.training.images.progress import progress_bar

    layout, source = plan.layout, plan.source
    output = TableWriter(plan.output, layout.output_columns)
    rejects = TableWriter(plan.rejects, layout.rejects_columns, lazy=True, mixed=True)
    scale = MB if source.unit == "bytes" else 1
    what = f"scoring {source.path.name} ({'MB' if scale == MB else 'rows'})"
    started = time.perf_counter()
    rows_in = shown = 0
    try:
        with scoring_threads() as threads, progress_bar(what, max(1, source.total // scale)) as bar:
            for chunk in source.chunks(layout.keys, layout.features, plan.chunk_rows):
                numbers = row_numbers(rows_in, len(chunk.frame), chunk.malformed)
                result = score_chunk(model, chunk.frame, layout, numbers, threads)
                rows_in += len(chunk.frame) + len(chunk.malformed)
                output.write(result.scored)
                refused = result.rejects
                if chunk.malformed:
                    refused = _with_malformed(refused, chunk.malformed, layout)
                rejects.write(refused)
                bar.advance(chunk.done // scale - shown)
                shown = chunk.done // scale
        output.commit()
        rejects.commit()
    except BaseException:
        output.discard()
        rejects.discard()
        raise
    return BatchSummary(
        model_name=model.name,
        model_version=model.version,
        model_uri=model.info.resolved,
        source=str(source.path),
        output=str(plan.output),
        rejects=str(plan.rejects) if rejects.written else None,
        rows_in=rows_in,
        rows_scored=output.rows,
        rows_rejected=rejects.rows,
        seconds=time.perf_counter() - started,
    )


def row_numbers(before: int, count: int, malformed: list[Malformed]) -> Sequence[int]:
    """The input's row numbers (from 1) of a chunk's ``count`` rows read after ``before``
    rows: the numbers in order, less those of the malformed lines skipped among them (a
    CSV's line ``n`` is its row ``n - 1``: line 1 is the header)."""
    if not malformed:
        return range(before + 1, before + count + 1)
    skipped = {m.line - 1 for m in malformed}
    out: list[int] = []
    number = before
    while len(out) < count:
        number += 1
        if number not in skipped:
            out.append(number)
    return out


def _with_malformed(rejects: pd.DataFrame, lines: list[Malformed], layout: Layout) -> pd.DataFrame:
    """The chunk's rejects with its malformed lines (no values: they were never split into
    columns), in row order."""
    import pandas as pd

    malformed = rejected_rows(
        pd.DataFrame(index=range(len(lines))),
        layout,
        [m.line - 1 for m in lines],
        [m.reason for m in lines],
        [None] * len(lines),
    )
    if rejects.empty:
        return malformed
    both = pd.concat([rejects, malformed], ignore_index=True)
    return both.sort_values(ROW, kind="stable", ignore_index=True)
