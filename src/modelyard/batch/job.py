"""Running a plan: a table chunk by chunk, an image folder, or the database's backlog.

Only one chunk is in memory at a time: it is read, scored, appended to the output (and its
rejects to the rejects file), and dropped. :func:`write_chunks` drives that loop for a table
and an image folder alike: the files are put in place when the last chunk is written, and a
run that fails leaves neither behind. A progress bar is drawn on a terminal.

A CSV is read first by the fast reader (:meth:`TableSource.arrow_chunks`: pyarrow, no
pandas), unless the model has categorical features (text, which the pandas path encodes). A
file it cannot read (a row with text in a feature cell or too many fields, bytes that are
not UTF-8) is read again from the start by the pandas reader, whose rejects file names each
such row; what the fast reader wrote is discarded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.batch.chunks import (
    ScoredChunk,
    Threads,
    rejected_rows,
    score_arrow_chunk,
    score_chunk,
    scoring_threads,
)
from modelyard.batch.layout import ROW, Layout
from modelyard.batch.plan import DatabasePlan, ImagePlan, Plan, TablePlan
from modelyard.batch.summary import BatchSummary
from modelyard.batch.tables import CSV, Malformed, NotPlain
from modelyard.batch.writers import TableWriter
from modelyard.config import Settings
from modelyard.inference.model import LoadedModel

if TYPE_CHECKING:
    import pandas as pd

MB = 1_000_000


@dataclass
class Written:
    """One chunk's output rows and rejects (DataFrames or Arrow tables; None: no rejects),
    and how far the progress bar moves after it."""

    scored: Any
    rejects: Any
    steps: int


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


def write_chunks(
    output: TableWriter, rejects: TableWriter, what: str, total: int, chunks: Iterator[Written]
) -> None:
    """Append each chunk to the output and the rejects file under a progress bar of
    ``total`` steps; put both files in place at the end, or remove both if anything fails.

    A chunk is written on a thread of its own while the next one is read and scored (pyarrow
    writes without the GIL), so at most two chunks are in memory.
    """
    from modelyard.training.images.progress import progress_bar

    def write(chunk: Written) -> None:
        output.write(chunk.scored)
        if chunk.rejects is not None:
            rejects.write(chunk.rejects)

    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="write") as writer,
            progress_bar(what, max(1, total)) as bar,
        ):
            writing: Future[None] | None = None
            for chunk in chunks:
                if writing is not None:
                    writing.result()
                writing = writer.submit(write, chunk)
                bar.advance(chunk.steps)
            if writing is not None:
                writing.result()
        output.commit()
        rejects.commit()
    except BaseException:
        output.discard()
        rejects.discard()
        raise


def score_table(model: LoadedModel, plan: TablePlan) -> BatchSummary:
    """Score a CSV or Parquet file into the output (and the rejects file)."""
    layout, source = plan.layout, plan.source
    scale = MB if source.unit == "bytes" else 1
    what = f"scoring {source.path.name} ({'MB' if scale == MB else 'rows'})"
    started = time.perf_counter()
    with scoring_threads() as threads:
        # categorical features are text the fast reader does not read as numbers
        fast = source.format == CSV and not model.tabular.categorical
        while True:
            output = TableWriter(plan.output, layout.output_columns)
            rejects = TableWriter(plan.rejects, layout.rejects_columns, lazy=True, mixed=True)
            reading = _Reading(model, plan, threads)
            scored = reading.arrow_chunks() if fast else reading.frame_chunks()
            try:
                write_chunks(output, rejects, what, source.total // scale, _steps(scored, scale))
            except NotPlain:
                fast = False  # read it again with the reader that rejects such rows
                continue
            break
    return BatchSummary(
        model_name=model.name,
        model_version=model.version,
        model_uri=model.info.resolved,
        source=str(source.path),
        output=str(plan.output),
        rejects=str(plan.rejects) if rejects.written else None,
        rows_in=reading.rows_in,
        rows_scored=output.rows,
        rows_rejected=rejects.rows,
        seconds=time.perf_counter() - started,
    )


def _steps(scored: Iterator[tuple[ScoredChunk, int]], scale: int) -> Iterator[Written]:
    """Scored chunks, each with the progress it makes (``done`` is in the source's units)."""
    shown = 0
    for result, done in scored:
        yield Written(result.scored, result.rejects, done // scale - shown)
        shown = done // scale


@dataclass
class _Reading:
    """One pass over a table file by one of its readers: the scored chunks, and the rows
    read so far."""

    model: LoadedModel
    plan: TablePlan
    threads: Threads | None
    rows_in: int = 0

    def arrow_chunks(self) -> Iterator[tuple[ScoredChunk, int]]:
        """With the fast reader (:class:`NotPlain` at a row it does not read)."""
        layout = self.plan.layout
        for chunk in self.plan.source.arrow_chunks(
            layout.keys, layout.features, self.plan.chunk_rows
        ):
            before, self.rows_in = self.rows_in, self.rows_in + chunk.table.num_rows
            numbers = range(before + 1, self.rows_in + 1)
            yield (
                score_arrow_chunk(self.model, chunk.table, layout, numbers, self.threads),
                chunk.done,
            )

    def frame_chunks(self) -> Iterator[tuple[ScoredChunk, int]]:
        """With the pandas reader (malformed lines are rejected with the others)."""
        layout = self.plan.layout
        for chunk in self.plan.source.chunks(layout.keys, layout.features, self.plan.chunk_rows):
            numbers = row_numbers(self.rows_in, len(chunk.frame), chunk.malformed)
            result = score_chunk(self.model, chunk.frame, layout, numbers, self.threads)
            self.rows_in += len(chunk.frame) + len(chunk.malformed)
            if chunk.malformed:
                assert result.rejects is not None
                result.rejects = _with_malformed(result.rejects, chunk.malformed, layout)
            yield result, chunk.done


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
