"""Scoring a folder of images: the top-k classes per file, unreadable files rejected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.batch.job import run_plan
from modelyard.batch.plan import BatchRequest, plan_batch
from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """Digits 0-9 as PNG and JPEG in two sub-folders, one broken file and one text file."""
    from serving_models import digit_image

    folder = tmp_path / "scans"
    for digit in range(10):
        kind, suffix = ("PNG", "png") if digit % 2 else ("JPEG", "jpg")
        sub = folder / ("odd" if digit % 2 else "even")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{digit}.{suffix}").write_bytes(digit_image(digit, kind))
    (folder / "broken.png").write_bytes(digit_image(3)[:60])
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_each_file_gets_its_top_k_and_a_broken_one_is_rejected(
    digits: LoadedModel, scans: Path, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, home=tmp_path / "home")  # type: ignore[call-arg]
    plan = plan_batch(
        digits, BatchRequest(str(scans), tmp_path / "digits.csv", top_k=3, chunk_rows=4)
    )
    summary = run_plan(digits, plan, settings)
    assert (summary.rows_in, summary.rows_scored, summary.rows_rejected) == (11, 10, 1)
    out = pd.read_csv(tmp_path / "digits.csv")
    assert list(out.columns) == [
        "file",
        "label_1",
        "probability_1",
        "label_2",
        "probability_2",
        "label_3",
        "probability_3",
    ]
    expected = {
        f"{'odd' if d % 2 else 'even'}/{d}.{'png' if d % 2 else 'jpg'}": d for d in range(10)
    }
    assert sorted(out["file"]) == sorted(expected)
    assert all(out["label_1"] == out["file"].map(expected))
    assert (out["probability_1"] >= out["probability_2"]).all()
    assert (out["probability_2"] >= out["probability_3"]).all()
    rejects = pd.read_csv(tmp_path / "digits.rejects.csv")
    assert rejects["file"].tolist() == ["broken.png"]
    assert "truncated or corrupt PNG image" in rejects["reason"][0]


def test_a_folder_without_images_and_a_table_for_an_image_model_are_refused(
    digits: LoadedModel, tmp_path: Path, iris_csv: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"holds no images \(\.png, \.jpg"):
        plan_batch(digits, BatchRequest(str(empty), tmp_path / "out.csv"))
    with pytest.raises(ConfigError, match="model 'digits' classifies images: give it a folder"):
        plan_batch(digits, BatchRequest(str(iris_csv), tmp_path / "out.csv"))


def test_an_image_the_model_fails_on_is_rejected_and_the_others_scored(
    digits: LoadedModel, scans: Path, tmp_path: Path
) -> None:
    import dataclasses
    import io

    import numpy as np
    from PIL import Image

    from modelyard.inference.model import Scores

    def predict(batch: np.ndarray) -> Scores:
        if (batch.reshape(len(batch), -1).min(axis=1) > 0.99).any():
            raise ValueError("a blank page")
        return digits.score(batch)

    picky = dataclasses.replace(digits, _predict=predict)
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, "PNG")
    (scans / "blank.png").write_bytes(blank.getvalue())
    settings = Settings(_env_file=None, home=tmp_path / "home")  # type: ignore[call-arg]
    plan = plan_batch(picky, BatchRequest(str(scans), tmp_path / "digits.csv", chunk_rows=50))
    summary = run_plan(picky, plan, settings)
    assert (summary.rows_in, summary.rows_scored, summary.rows_rejected) == (12, 10, 2)
    rejects = pd.read_csv(tmp_path / "digits.rejects.csv").set_index("file")["reason"]
    assert rejects["blank.png"] == "the model failed on this image: ValueError: a blank page"
    assert "broken.png" in rejects.index
