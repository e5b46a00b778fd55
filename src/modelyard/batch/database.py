"""Scoring the predictions database's pending observations, exactly once each.

The run claims batches with the streaming worker's own :func:`score_next_batch` (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), scores them with its
:func:`score_rows` and writes predictions and failures in the claim's transaction, until no
observation is pending or as many rows as were pending at the start are done (a live stream
is the worker's, not a batch's). Workers may run meanwhile: a row is claimed by one of them
or by this run, never both, and a row that cannot be scored is a failure in the database
(the worker's rule), counted as rejected here.
"""

from __future__ import annotations

import time

from modelyard.batch.plan import DatabasePlan
from modelyard.batch.summary import BatchSummary
from modelyard.config import Settings
from modelyard.inference.model import LoadedModel


def score_database(model: LoadedModel, plan: DatabasePlan, settings: Settings) -> BatchSummary:
    """Score pending observations until none is left; the run's summary."""
    from modelyard.db.engine import make_engine
    from modelyard.db.migrate import check_schema, safe_url
    from modelyard.db.models import PENDING
    from modelyard.streaming import store
    from modelyard.streaming.scoring import score_rows
    from modelyard.training.images.progress import progress_bar

    engine = make_engine(plan.url or settings.db_url)
    try:
        check_schema(engine)
        pending = store.count_status(engine).get(PENDING, 0)
        started = time.perf_counter()
        rows_in = scored = rejected = 0
        with progress_bar("scoring pending observations", max(1, pending)) as bar:
            while True:
                batch = store.score_next_batch(
                    engine, plan.chunk_rows, lambda ids, rows: score_rows(model, ids, rows)
                )
                if batch is None:
                    break
                rows_in += batch.size
                scored += batch.scored
                rejected += len(batch.failures)
                bar.advance(batch.size)
                if rows_in >= pending:
                    break  # the backlog the run found: rows arriving since are the workers'
        where = safe_url(engine)
    finally:
        engine.dispose()
    return BatchSummary(
        model_name=model.name,
        model_version=model.version,
        model_uri=model.info.resolved,
        source=where,
        output=None,
        rejects=None,
        rows_in=rows_in,
        rows_scored=scored,
        rows_rejected=rejected,
        seconds=time.perf_counter() - started,
    )
