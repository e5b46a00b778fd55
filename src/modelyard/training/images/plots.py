"""A PNG grid of the held-out images a model got wrong, with their true and predicted labels.

The images are shown as they were found in the folder (decoded by :func:`open_image`), not
as the model saw them, most confident mistakes first.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.inputs.image import InvalidImageError, open_image

MAX_SHOWN = 25
COLUMNS = 5
THUMBNAIL = 128


def _thumbnail(path: Path) -> np.ndarray | None:
    try:
        image = open_image(path.read_bytes(), str(path))
    except (OSError, InvalidImageError):
        return None  # changed since it was loaded: leave its cell blank
    image = image.convert("RGB")
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    return np.asarray(image)


def misclassified_grid(root: Path, misclassified: Mapping[str, Any]) -> bytes:
    """Up to :data:`MAX_SHOWN` misclassified images (``files``, ``true``, ``predicted``,
    ``probability`` lists) as a PNG; a one-line figure when there are none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    files = list(misclassified["files"])
    shown = min(len(files), MAX_SHOWN)
    columns = max(1, min(COLUMNS, shown))
    rows = max(1, math.ceil(shown / columns))
    fig = Figure(figsize=(2.2 * columns, 2.5 * rows + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    if not shown:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified held-out images", ha="center", va="center")
    for i in range(shown):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.axis("off")
        pixels = _thumbnail(root / files[i])
        if pixels is not None:
            ax.imshow(pixels)
        ax.set_title(
            f"true: {misclassified['true'][i]}\n"
            f"predicted: {misclassified['predicted'][i]} "
            f"({misclassified['probability'][i]:.2f})",
            fontsize=8,
            color="firebrick",
        )
    more = f" ({shown} of {len(files)} shown)" if len(files) > shown else ""
    fig.suptitle(f"Misclassified held-out images: {len(files)}{more}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
