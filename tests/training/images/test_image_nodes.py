"""The image-training nodes on small folders written by the digits demo writer."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from PIL import Image

from modelyard.errors import ConfigError, MissingExtraError
from modelyard.inputs.image import ImagePreprocessing
from modelyard.training.images import identity, nodes
from modelyard.training.images.demo import write_digits
from modelyard.training.images.estimators import (
    ExportMismatchError,
    check_parity,
    fit_logistic_regression,
    fit_mlp,
    fitter_for,
)
from modelyard.training.images.folder import ImageFolderError, load_folder
from modelyard.training.images.pipeline import create_pipeline
from modelyard.training.run import check_overrides

REPO = Path(__file__).resolve().parents[3]
SMALL = ImagePreprocessing(width=8, height=8, mode="L")
PER_CLASS = 12


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("parameters_training.yml", "parameters_training_images.yml"):
        out.update(yaml.safe_load((REPO / "conf/base" / name).read_text()))
    return out


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 images of each digit: 120 PNG files, written once for the module."""
    folder = tmp_path_factory.mktemp("digits") / "Hand Digits"
    counts = write_digits(folder, per_class=PER_CLASS)
    assert counts == {str(d): PER_CLASS for d in range(10)}
    return folder


@pytest.fixture
def folder(small_digits: Path, tmp_path: Path) -> Path:
    """A private copy of the small folder, free to spoil."""
    return Path(shutil.copytree(small_digits, tmp_path / "digits"))


def test_write_digits_lays_out_upscaled_rgb_pngs(small_digits: Path) -> None:
    assert sorted(p.name for p in small_digits.iterdir()) == [str(d) for d in range(10)]
    files = sorted((small_digits / "3").iterdir())
    assert len(files) == PER_CLASS and all(p.suffix == ".png" for p in files)
    with Image.open(files[0]) as image:
        assert image.format == "PNG" and image.mode == "RGB" and image.size == (32, 32)
        pixels = np.asarray(image)
    assert pixels.min() < 60 and pixels.max() > 240  # dark ink on white


def test_load_preprocesses_every_image_in_content_order(folder: Path) -> None:
    images = load_folder(folder, SMALL)
    assert images.classes == tuple(str(d) for d in range(10))
    assert images.x.shape == (10 * PER_CLASS, 64) and images.x.dtype == np.float32
    assert images.counts() == {str(d): PER_CLASS for d in range(10)}
    assert images.skipped == ()
    first = images.files.index("3/" + sorted(p.name for p in (folder / "3").iterdir())[0])
    expected = SMALL.from_bytes((folder / images.files[first]).read_bytes())
    assert np.array_equal(images.x[first], expected)
    # ordered by class, then by content: renaming a file changes nothing
    assert list(images.y) == sorted(images.y)
    (folder / "5" / images.files[60].split("/")[1]).rename(folder / "5" / "renamed.png")
    again = load_folder(folder, SMALL)
    assert again.digests == images.digests
    assert np.array_equal(again.x, images.x)


def test_corrupt_and_truncated_files_are_skipped_and_listed(folder: Path) -> None:
    (folder / "0" / "corrupt.png").write_bytes(b"this is not an image")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="JPEG", quality=95)
    (folder / "1" / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "2" / "notes.txt").write_text("ignored: not an image extension")
    images = load_folder(folder, SMALL)
    skipped = {item.path: item.reason for item in images.skipped}
    assert set(skipped) == {"0/corrupt.png", "1/truncated.jpg"}
    assert "not an image" in skipped["0/corrupt.png"]
    assert "truncated" in skipped["1/truncated.jpg"].lower()
    assert len(images) == 10 * PER_CLASS
    assert "0/corrupt.png" not in images.files


def test_a_class_with_too_few_images_is_refused(folder: Path) -> None:
    for path in sorted((folder / "7").iterdir())[2:]:
        path.unlink()
    with pytest.raises(ImageFolderError, match=r"at least 5 usable images.*'7' has 2"):
        load_folder(folder, SMALL, min_per_class=5)


def test_corrupt_files_do_not_count_towards_the_minimum(folder: Path) -> None:
    for path in sorted((folder / "7").iterdir())[4:]:
        path.unlink()
    (folder / "7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageFolderError, match="'7' has 4"):
        load_folder(folder, SMALL, min_per_class=5)


def test_fewer_than_two_classes_is_refused(tmp_path: Path, small_digits: Path) -> None:
    shutil.copytree(small_digits / "4", tmp_path / "only" / "4")
    with pytest.raises(ImageFolderError, match=r"at least two class folders.*'4'"):
        load_folder(tmp_path / "only", SMALL)
    with pytest.raises(ImageFolderError, match="does not exist"):
        load_folder(tmp_path / "missing", SMALL)


def test_split_is_stratified_and_seeded(folder: Path) -> None:
    images = load_folder(folder, SMALL)
    split = {"test_size": 0.25, "seed": 3, "stratify": True}
    train, test = nodes.split_images(images, split)
    assert len(train) + len(test) == len(images)
    assert set(train.files).isdisjoint(test.files)
    assert test.counts() == {str(d): 3 for d in range(10)}
    again_train, _ = nodes.split_images(images, split)
    assert again_train.files == train.files
    with pytest.raises(ConfigError, match=r"split\.test_size"):
        nodes.split_images(images, {"test_size": 0.05})


def test_identity_is_the_content_not_the_preprocessing(folder: Path) -> None:
    split = {"test_size": 0.3, "seed": 1, "stratify": True}
    small = identity.identify(load_folder(folder, SMALL), split)
    large = identity.identify(load_folder(folder, ImagePreprocessing(28, 28, "RGB")), split)
    assert small == large
    assert json.loads(small["features"]) == ["image"]
    assert json.loads(small["labels"]) == [str(d) for d in range(10)]
    assert identity.identify(load_folder(folder, SMALL), {**split, "seed": 2}) != small
    Image.new("RGB", (32, 32), "white").save(folder / "0" / "blank.png")
    assert identity.identify(load_folder(folder, SMALL), split)["holdout"] != small["holdout"]


@pytest.mark.parametrize("fit", [fit_logistic_regression, fit_mlp])
def test_exported_graph_agrees_with_scikit_learn(folder: Path, fit: Any) -> None:
    images = load_folder(folder, SMALL)
    train, test = nodes.split_images(images, {"test_size": 0.3, "seed": 0})
    params = {"epochs": 5, "seed": 0, "max_iter": 200}
    if fit is fit_mlp:
        params = {"epochs": 5, "seed": 0, "hidden_layer_sizes": [16], "n_iter_no_change": 5}
    onnx_bytes, report = fit(train.x, train.y, list(train.classes), params, test.x)
    proba = nodes.probabilities(onnx_bytes, test.x)
    assert proba.shape == (len(test), 10)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert report["fit_seconds"] >= 0
    if fit is fit_mlp:
        assert report["epochs"] == len(report["loss"]) == 5
    # a graph that disagrees with the reference is refused
    with pytest.raises(ExportMismatchError, match="differ from the reference by up to"):
        check_parity(onnx_bytes, test.x, np.roll(proba, 1, axis=1), "the reference")
    with pytest.raises(ExportMismatchError, match="shape"):
        check_parity(onnx_bytes, test.x, proba[:, :3], "the reference")


def test_estimators_are_checked(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"image_model\.estimator: 'svm' is not one of"):
        fitter_for("svm")
    if importlib.util.find_spec("torch") is None:
        x = np.zeros((4, 1, 8, 8), np.float32)
        with pytest.raises(MissingExtraError, match="torch"):
            fitter_for("cnn")(x, np.array([0, 1, 0, 1]), ["a", "b"], {}, x)
    flat_cnn = {**params["image_model"], "estimator": "logistic_regression"}
    flat_cnn["preprocessing"] = {"logistic_regression": {"size": 8, "layout": "nchw"}}
    with pytest.raises(ConfigError, match="logistic_regression takes flat pixel vectors"):
        nodes.preprocessing_for(flat_cnn)
    bad_mode = {"estimator": "mlp", "preprocessing": {"mlp": {"size": 8, "mode": "CMYK"}}}
    with pytest.raises(ConfigError, match=r"image_model.preprocessing.mlp: mode"):
        nodes.preprocessing_for(bad_mode)
    with pytest.raises(ConfigError, match=r"images\.path"):
        nodes.load_images({"path": None}, params["image_model"])


def test_overrides_are_checked_against_the_image_parameters(params: dict[str, Any]) -> None:
    check_overrides({"image_model": {"hyperparameters": {"mlp": {"activation": "tanh"}}}}, params)
    check_overrides({"images": {"path": "/data", "min_per_class": 2}}, params)
    with pytest.raises(ConfigError, match=r"images\.folder"):
        check_overrides({"images": {"folder": "/data"}}, params)


def test_pipeline_slice_runs_on_an_in_memory_catalog(folder: Path, params: dict[str, Any]) -> None:
    image_model = {**params["image_model"], "estimator": "logistic_regression"}
    image_model["preprocessing"] = {"logistic_regression": {"size": 8, "mode": "L"}}
    catalog = DataCatalog()
    catalog["params:images"] = {**params["images"], "path": str(folder)}
    catalog["params:image_model"] = image_model
    catalog["params:split"] = params["split"]
    pipeline = create_pipeline().to_nodes("identify", "plot", "plot_misclassified")
    SequentialRunner().run(pipeline, catalog)
    metrics = catalog["metrics"].load()
    assert set(metrics) == {"accuracy", "f1_macro", "top_3_accuracy", "top_5_accuracy"}
    assert metrics["accuracy"] > 0.6
    assert metrics["accuracy"] <= metrics["top_3_accuracy"] <= metrics["top_5_accuracy"]
    assert catalog["confusion_png"].load().startswith(b"\x89PNG")
    grid = catalog["misclassified_png"].load()
    with Image.open(io.BytesIO(grid)) as image:
        assert image.format == "PNG" and image.size[0] > 200
    assert catalog["data_identity"].load()["features"] == '["image"]'


def test_top_k_accuracy_counts_the_truth_among_the_k_best() -> None:
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    truth = np.array([1, 2, 2])
    assert nodes.top_k_accuracy(proba, truth, 1) == pytest.approx(1 / 3)
    assert nodes.top_k_accuracy(proba, truth, 2) == pytest.approx(2 / 3)
    assert nodes.top_k_accuracy(proba, truth, 3) == 1.0


def test_every_image_parameter_section_is_used(params: dict[str, Any]) -> None:
    used = {
        name.split(":")[1].split(".")[0]
        for name in create_pipeline().inputs()
        if name.startswith("params:")
    }
    own = yaml.safe_load((REPO / "conf/base/parameters_training_images.yml").read_text())
    assert used == {*own, "split", "tracking", "promotion"}


def test_evaluate_lists_the_misclassified_most_confident_first(folder: Path) -> None:
    images = load_folder(folder, SMALL)
    train, test = nodes.split_images(images, {"test_size": 0.5, "seed": 0})
    weak = {
        "estimator": "logistic_regression",
        "hyperparameters": {"logistic_regression": {"C": 1e-3}},
    }
    fitted = nodes.fit_model(train, test, weak)
    metrics, confusion, wrong = nodes.evaluate_model(fitted, test)
    assert 0 < len(wrong["files"]) == round((1 - metrics["accuracy"]) * len(test))
    assert set(wrong["files"]) <= set(test.files)
    assert all(t != p for t, p in zip(wrong["true"], wrong["predicted"], strict=True))
    assert wrong["probability"] == sorted(wrong["probability"], reverse=True)
    matrix = np.asarray(confusion["matrix"])
    assert confusion["labels"] == list(test.classes)
    assert matrix.sum() == len(test) and np.trace(matrix) == len(test) - len(wrong["files"])
