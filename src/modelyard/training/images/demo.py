"""The bundled image demo: scikit-learn's digits as an image folder, and its two generations.

:func:`write_digits` writes the 1,797 8x8 digits as 32x32 RGB PNG files,
``<folder>/<digit>/<index>.png`` (dark ink on white, as a scan would be);
:func:`train_demo_images` trains version 1 (logistic regression on 16x16 pixels) and then
version 2 (an MLP on 28x28 pixels) under one name, in one process, as two
``modelyard train --images`` runs would.

``python -m modelyard.training.images.demo FOLDER [MODEL_NAME]`` writes the digits into
FOLDER when it holds no images yet, then trains both.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from modelyard.config import Settings
from modelyard.training.result import TrainResult

log = logging.getLogger(__name__)

DEMO_SIZE = 32
DEMO_MODEL_NAME = "digits"
DEMO_ESTIMATORS = ("logistic_regression", "mlp")  # version 1, version 2


def write_digits(
    folder: Path, size: int = DEMO_SIZE, per_class: int | None = None
) -> dict[str, int]:
    """Write scikit-learn's digits as PNG files under ``folder``; the count of each digit.

    Each 8x8 image (ink 0..16) is inverted to dark ink on white, upscaled with Lanczos
    resampling to ``size`` x ``size`` and saved as RGB. Rewriting gives the same bytes.
    ``per_class`` keeps only the first images of each digit (a small folder for tests).
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[str, int] = {}
    for index, (pixels, digit) in enumerate(zip(digits.images, digits.target, strict=True)):
        label = str(int(digit))
        if per_class is not None and counts.get(label, 0) >= per_class:
            continue
        ink = np.clip(pixels / 16.0, 0.0, 1.0)
        grey = Image.fromarray(np.round(255 * (1.0 - ink)).astype(np.uint8), mode="L")
        image = grey.resize((size, size), Image.Resampling.LANCZOS).convert("RGB")
        target = folder / label
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"{index:04d}.png", format="PNG", optimize=False)
        counts[label] = counts.get(label, 0) + 1
    log.info("wrote %d digit images in %d classes to %s", sum(counts.values()), len(counts), folder)
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class DemoRun:
    estimator: str
    result: TrainResult


def train_demo_images(
    settings: Settings, folder: Path, model_name: str = DEMO_MODEL_NAME
) -> list[DemoRun]:
    """Train version 1 (logistic regression) then version 2 (MLP) on ``folder`` under
    ``model_name``; the first becomes champion, the second too when it scores better."""
    from modelyard.training.run import IMAGES_PIPELINE, train

    runs = []
    for estimator in DEMO_ESTIMATORS:
        params = {
            "images": {"path": str(folder)},
            "image_model": {"estimator": estimator},
            "tracking": {"model_name": model_name},
        }
        runs.append(DemoRun(estimator, train(settings, params, IMAGES_PIPELINE)))
    return runs


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() and any(p.iterdir()) for p in folder.iterdir())


def main(argv: list[str]) -> int:
    from modelyard.config import get_settings
    from modelyard.errors import ModelyardError
    from modelyard.logs import configure_logging

    if not 1 <= len(argv) <= 2:
        usage = "usage: python -m modelyard.training.images.demo FOLDER [MODEL_NAME]"
        print(usage, file=sys.stderr)  # noqa: T201
        return 2
    folder = Path(argv[0])
    name = argv[1] if len(argv) == 2 else DEMO_MODEL_NAME
    # Kedro's config loader calls an OmegaConf API that warns on every run; not actionable.
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    settings = get_settings()
    configure_logging("train", settings.log_level)
    try:
        if not _has_images(folder):
            write_digits(folder)
        runs = train_demo_images(settings, folder, name)
    except ModelyardError as exc:
        print(f"error: training the image demo: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    for run in runs:
        result = run.result
        outcome = "promoted" if result.promoted else "kept as challenger"
        print(  # noqa: T201 - the step's result, as `modelyard train` prints it
            f"{result.model_name} version {result.version} ({run.estimator}) {outcome}: "
            f"champion is version {result.champion} ({result.reason})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
