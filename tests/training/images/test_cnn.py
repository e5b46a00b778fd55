"""The cnn image estimator (PyTorch): training, ONNX export and parity, devices, init weights.

Run by ``make torch`` in the environment that has PyTorch (``.venv-torch``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import ConfigError
from modelyard.inputs.image import ImagePreprocessing
from modelyard.training.images import cnn
from modelyard.training.images.estimators import ExportMismatchError, check_parity, fitter_for

pytestmark = pytest.mark.torch  # `make torch` runs these where PyTorch is installed

CLASSES = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits through the cnn's preprocessing: (n, 3, 16, 16) tensors, indices."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    prep = ImagePreprocessing(16, 16, "RGB", (0.5,), (0.5,), "nchw")
    images = [
        Image.fromarray(np.round(255 * (1 - np.clip(p / 16, 0, 1))).astype(np.uint8), mode="L")
        for p in data.images
    ]
    x = np.stack([prep.tensor(image) for image in images])
    return x, data.target.astype(np.int64)


def test_the_fitter_trains_exports_and_agrees_with_pytorch(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = digits
    train, held = slice(0, 800), slice(1500, None)
    fit = fitter_for("cnn")
    onnx_bytes, report = fit(
        x[train], y[train], CLASSES, {"epochs": 3, "seed": 3, "device": "cpu"}, x[held]
    )
    assert report["device"] == "cpu" and report["epochs"] == 3
    assert len(report["loss"]) == 3 and report["loss"][-1] < report["loss"][0]
    assert report["parity_max_abs_diff"] <= 1e-4

    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"input": x[held]})
    assert probabilities.shape == (len(x[held]), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    accuracy = float((probabilities.argmax(axis=1) == y[held]).mean())
    assert accuracy > 0.7, accuracy


def test_the_same_seed_trains_the_same_network(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    settings = cnn.CnnSettings(epochs=1, seed=7, device="cpu")
    first = cnn.train_cnn(x[:300], y[:300], 10, settings, x[300:340])
    second = cnn.train_cnn(x[:300], y[:300], 10, settings, x[300:340])
    assert first.report()["loss"] == second.report()["loss"]


def test_a_graph_that_disagrees_is_refused(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    network = cnn.small_cnn(3, 10).eval()
    onnx_bytes = cnn.export_onnx(network, (3, 16, 16))
    expected = cnn.probabilities(network, x[:20])
    assert check_parity(onnx_bytes, x[:20], expected, "PyTorch") <= 1e-4
    shifted = expected.copy()
    shifted[:, 0] += 0.01
    with pytest.raises(ExportMismatchError, match="differ from PyTorch"):
        check_parity(onnx_bytes, x[:20], shifted, "PyTorch")


def test_device_choice() -> None:
    import torch

    assert cnn.resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert cnn.resolve_device("auto") == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA device"):
            cnn.resolve_device("cuda")
    with pytest.raises(ConfigError, match="device: 'tpu' is not one of"):
        cnn.CnnSettings(device="tpu")


def test_bad_hyperparameters_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown \['dropout'\]"):
        cnn.CnnSettings.from_params({"dropout": 0.5})
    with pytest.raises(ConfigError, match="architecture: 'vgg' is not one of"):
        cnn.CnnSettings(architecture="vgg")
    with pytest.raises(ConfigError, match="set architecture: resnet18"):
        cnn.CnnSettings(init_weights="/weights.pth")


def test_the_cnn_takes_nchw_tensors() -> None:
    with pytest.raises(ConfigError, match="layout: the cnn takes nchw tensors"):
        cnn.fit_cnn(
            np.zeros((4, 48), np.float32),
            np.zeros(4, np.int64),
            CLASSES,
            {},
            np.zeros((1, 48), np.float32),
        )


def test_resnet18_takes_a_torchvision_state_dict_offline(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    """A state dict with torchvision's ResNet-18 names (1,000 ImageNet classes) initialises
    every layer but the classifier, which is replaced for this data set's classes."""
    import torch

    source = cnn.resnet18(1000)
    weights = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), weights)
    network = cnn.resnet18(10)
    cnn.load_init_weights(network, str(weights))
    for name, tensor in network.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(tensor, source.state_dict()[name]), name
    assert network.state_dict()["fc.weight"].shape == (10, 512)

    x, y = digits
    settings = cnn.CnnSettings(
        architecture="resnet18", epochs=1, device="cpu", init_weights=str(weights)
    )
    result = cnn.train_cnn(x[:64], y[:64], 10, settings, x[64:80])
    assert result.parity_max_abs_diff <= 1e-4


def test_init_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    import torch

    other = tmp_path / "small.pth"
    torch.save(cnn.small_cnn(3, 10).state_dict(), other)
    with pytest.raises(ConfigError, match="is not a torchvision ResNet-18 state dict"):
        cnn.load_init_weights(cnn.resnet18(10), str(other))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(ConfigError, match="is not a PyTorch state dict"):
        cnn.load_init_weights(cnn.resnet18(10), str(junk))
    with pytest.raises(ConfigError, match="is not a file"):
        cnn.load_init_weights(cnn.resnet18(10), str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigError, match="resnet18 takes RGB images"):
        cnn.build_network(cnn.CnnSettings(architecture="resnet18"), (1, 16, 16), 10)
