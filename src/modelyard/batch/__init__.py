"""Batch scoring: a file, an image folder or the database's unscored observations, at once.

``modelyard score`` and the Kedro ``inference`` pipeline run the same parts:

- :mod:`~modelyard.batch.tables` reads a CSV or Parquet file in chunks and checks its header
  against the model's features before any work;
- :mod:`~modelyard.batch.chunks` scores one chunk, keeping rows that cannot be scored apart
  with their reason;
- :mod:`~modelyard.batch.writers` writes the output and the rejects file chunk by chunk;
- :mod:`~modelyard.batch.job` drives a whole file (or an image folder, with
  :mod:`~modelyard.batch.images`) through them, so memory stays flat whatever its size;
- :mod:`~modelyard.batch.database` scores the predictions database's pending observations
  with the worker's exactly-once claim;
- :mod:`~modelyard.batch.tracking` records each run in MLflow.

Importing this package is cheap: pandas, pyarrow and MLflow load when a run starts.
"""

from __future__ import annotations

PIPELINE = "inference"
