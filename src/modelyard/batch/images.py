"""Scoring a folder of images: the top-k classes of each file, as the API answers them.

Each image is decoded and preprocessed by the model's :class:`ImagePreprocessing` (the
serving path's), a chunk of them is scored in one call, and the classes are ranked by the
API's own :func:`~modelyard.serving.protocols.images.ranked`. The output has a row per file:
``file`` (its path under the folder), then ``label_1``, ``probability_1`` ... ``label_k``,
``probability_k``, the most probable first. A file that is not a readable image goes to the
rejects file (``file``, ``reason``) and the run carries on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.batch.plan import ImagePlan
from modelyard.batch.summary import BatchSummary
from modelyard.batch.writers import TableWriter
from modelyard.config import Settings
from modelyard.errors import FeatureError
from modelyard.inference.model import LoadedModel, Scores
from modelyard.inputs.image import ImageSpec, limit_pixels
from modelyard.streaming.scoring import score_one_by_one

FILE = "file"
IMAGE_CHUNK = 256  # images decoded and scored per model call at most


def output_columns(k: int) -> list[str]:
    return [FILE, *(f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "probability"))]


def score_images(model: LoadedModel, plan: ImagePlan, settings: Settings) -> BatchSummary:
    """Score every image of the plan's folder into the output (and the rejects file)."""
    from modelyard.batch.job import Written, write_chunks

    spec = model.schema
    assert isinstance(spec, ImageSpec)
    limit_pixels(settings.max_image_pixels)
    k = min(plan.top_k, max(1, len(model.classes)))
    output = TableWriter(plan.output, output_columns(k))
    rejects = TableWriter(plan.rejects, [FILE, "reason"], lazy=True, mixed=True)
    started = time.perf_counter()
    size = max(1, min(plan.chunk_rows, IMAGE_CHUNK))

    def chunks() -> Iterator[Written]:
        for start in range(0, len(plan.files), size):
            files = plan.files[start : start + size]
            yield Written(*_score_files(model, spec, plan.folder, files, k), len(files))

    write_chunks(output, rejects, f"scoring {plan.folder.name}", len(plan.files), chunks())
    return BatchSummary(
        model_name=model.name,
        model_version=model.version,
        model_uri=model.info.resolved,
        source=str(plan.folder),
        output=str(plan.output),
        rejects=str(plan.rejects) if rejects.written else None,
        rows_in=len(plan.files),
        rows_scored=output.rows,
        rows_rejected=rejects.rows,
        seconds=time.perf_counter() - started,
    )


def _score_files(
    model: LoadedModel, spec: ImageSpec, folder: Path, files: tuple[Path, ...], k: int
) -> tuple[Any, Any]:
    import pandas as pd

    from modelyard.serving.engine import Prediction
    from modelyard.serving.protocols.images import ranked

    p = spec.preprocessing
    batch = np.empty((len(files), *p.tensor_shape), dtype=np.float32)
    names: list[str] = []
    refused: list[tuple[str, str]] = []
    for path in files:
        name = path.relative_to(folder).as_posix()
        try:
            batch[len(names)] = p.from_bytes(path.read_bytes(), field=name)
        except FeatureError as exc:
            refused.append((name, exc.reason))
        except OSError as exc:
            refused.append((name, f"cannot read the file: {exc.strerror or exc}"))
        else:
            names.append(name)
    rows: list[list[Any]] = []
    if names:
        names, scores = _scored(model, batch[: len(names)], names, refused)
    if names:
        prediction = Prediction(model, scores.labels, scores.probabilities)
        for name, top in zip(names, ranked(prediction, k), strict=True):
            row: list[Any] = [name]
            for entry in top:
                row += [entry["label"], entry["probability"]]
            rows.append(row + [None] * (1 + 2 * k - len(row)))
    return (
        pd.DataFrame(rows, columns=output_columns(k)),
        pd.DataFrame(refused, columns=[FILE, "reason"]),
    )


def _scored(
    model: LoadedModel, batch: np.ndarray, names: list[str], refused: list[tuple[str, str]]
) -> tuple[list[str], Scores]:
    """The batch's scores in one call; if the model fails on it, image by image (the
    worker's :func:`score_one_by_one`), the images it fails on refused with its reason."""
    try:
        return names, model.score(batch)
    except Exception:
        kept, scores, failures = score_one_by_one(model, batch, list(range(len(names))), "image")
        refused += [(names[f.observation_id], f.reason) for f in failures]
        return [names[i] for i in kept], scores
