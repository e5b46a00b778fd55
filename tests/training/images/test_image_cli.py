"""``modelyard demo images DIR`` and ``modelyard train --images DIR``'s refusals and naming."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from modelyard.cli import app
from modelyard.training.cli import _data_of
from modelyard.training.naming import choose_model_name, name_from_folder

NO_ENV = {"MODELYARD_MODEL_NAME": None, "MLFLOW_TRACKING_URI": None}


def test_demo_images_writes_the_digits(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["demo", "images", str(tmp_path / "digits")], env=NO_ENV)
    assert done.exit_code == 0, done.output
    assert "wrote 1797 images of 10 classes" in done.stdout
    assert f"modelyard train --images {tmp_path / 'digits'}" in done.stdout
    files = sorted((tmp_path / "digits" / "0").iterdir())
    assert len(files) == 178 and files[0].name == "0000.png"
    with Image.open(files[0]) as image:
        assert (image.mode, image.size) == ("RGB", (32, 32))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--csv", "data.csv"], "--images and --csv"),
        (["--target", "species"], "an image's label is its folder"),
    ],
)
def test_train_images_refuses_tabular_options(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    done = CliRunner().invoke(app, ["train", "--images", str(tmp_path), *extra], env=NO_ENV)
    assert done.exit_code != 0
    assert message in done.stderr
    assert "Traceback" not in done.output


def test_an_image_model_is_named_after_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Flower Photos.v2"
    assert name_from_folder(folder) == "flower-photos.v2"
    assert name_from_folder(str(folder) + "/") == "flower-photos.v2"
    data = _data_of({"images": {"path": str(folder)}})
    chosen = choose_model_name(
        requested=None, configured="iris", configured_explicitly=False, data=data
    )
    assert chosen.name == "flower-photos.v2"
    assert "Flower Photos.v2" in chosen.source
    wins = choose_model_name(
        requested="digits", configured="iris", configured_explicitly=True, data=data
    )
    assert wins.name == "digits"


def test_cnn_options_need_images_and_set_the_cnn_hyperparameters(tmp_path: Path) -> None:
    from modelyard.training.cli import _cnn_options

    done = CliRunner().invoke(app, ["train", "--device", "cuda"], env=NO_ENV)
    assert done.exit_code != 0
    assert "--device and --init-weights train the cnn image estimator" in done.stderr
    weights = tmp_path / "resnet18.pth"
    assert _cnn_options(tmp_path, "cpu", weights) == {
        "image_model": {
            "hyperparameters": {
                "cnn": {"device": "cpu", "init_weights": str(weights), "architecture": "resnet18"}
            }
        }
    }
    assert _cnn_options(tmp_path, None, None) == {}
