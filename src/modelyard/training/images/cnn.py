"""The convolutional generation of image classifiers: PyTorch, exported to ONNX.

Needs the ``torch`` extra (``uv sync --extra torch`` or ``pip install 'modelyard[torch]'``);
nothing else in modelyard imports PyTorch, and servers score the exported graph with ONNX
Runtime. Two architectures:

- ``small_cnn``: three convolution blocks and a linear head, trained from scratch; right for
  small images such as the digits demo, and fast on a CPU.
- ``resnet18``: torchvision's ResNet-18 layout (the same parameter names), so a local
  torchvision weights file (``--init-weights``, a state dict such as
  ``resnet18-f37072fd.pth``) initialises it for transfer learning, offline; its
  classification layer is replaced for this data set's classes.

:func:`fit_cnn` trains on the preprocessed tensors (layout ``nchw``) on the chosen device,
exports the network with a softmax to an ONNX graph whose output is ``probabilities``, and
checks the graph against PyTorch on held-out images before anything is registered.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.errors import ConfigError, MissingExtraError
from modelyard.training.images.estimators import check_parity
from modelyard.training.images.progress import progress_bar

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

ARCHITECTURES = ("small_cnn", "resnet18")
DEVICES = ("auto", "cpu", "cuda")
ONNX_OPSET = 17


@dataclass(frozen=True)
class CnnSettings:
    """The ``cnn`` estimator's hyperparameters (``image_model.hyperparameters.cnn``)."""

    architecture: str = "small_cnn"
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    device: str = "auto"
    init_weights: str | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"architecture: {self.architecture!r} is not one of {list(ARCHITECTURES)}"
            )
        if self.device not in DEVICES:
            raise ConfigError(f"device: {self.device!r} is not one of {list(DEVICES)}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError("epochs, batch_size and learning_rate must be positive")
        if self.init_weights and self.architecture != "resnet18":
            raise ConfigError(
                "init_weights: a torchvision weights file initialises the resnet18 "
                "architecture; set architecture: resnet18"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CnnSettings:
        """From the fitter's parameters: ``epochs``, ``seed`` and ``hyperparameters.cnn``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"image_model.hyperparameters.cnn: unknown {unknown}; known: {sorted(known)}"
            )
        return cls(**dict(params))


@dataclass
class CnnResult:
    """The exported graph and what the run reports about it."""

    onnx_bytes: bytes
    device: str
    parity_max_abs_diff: float
    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        """What the run logs: the device, per-epoch loss and accuracy, parity and time."""
        return {
            "device": self.device,
            "epochs": len(self.epochs),
            "loss": [e["loss"] for e in self.epochs],
            "train_accuracy": [e["accuracy"] for e in self.epochs],
            "parity_max_abs_diff": self.parity_max_abs_diff,
            "fit_seconds": round(self.seconds, 3),
        }


def import_torch() -> Any:
    """``torch``, or a MissingExtraError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError(
            "the cnn estimator needs PyTorch: install the torch extra "
            "(uv sync --all-extras, or pip install 'modelyard[torch]')"
        ) from exc
    return torch


def resolve_device(choice: str) -> str:
    """``auto``: the GPU when PyTorch sees one, else the CPU; ``cuda`` without one: an error."""
    torch = import_torch()
    available = bool(torch.cuda.is_available())
    if choice == "cuda" and not available:
        raise ConfigError(
            f"device: cuda was asked for, but PyTorch {torch.__version__} sees no CUDA device"
        )
    if choice == "auto":
        return "cuda" if available else "cpu"
    return choice


# --- networks ---------------------------------------------------------------------------------
def small_cnn(channels: int, classes: int) -> nn.Module:
    """Three conv-BN-ReLU-pool blocks, global average pooling and a linear head."""
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]

    return nn.Sequential(
        *block(channels, 32),
        *block(32, 64),
        *block(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(128, classes),
    )


def resnet18(classes: int) -> nn.Module:
    """ResNet-18 with torchvision's module names, so its state dicts load unchanged."""
    from torch import nn

    class BasicBlock(nn.Module):  # type: ignore[misc]  # torch is not type-checked
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample: nn.Module | None = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return self.relu(out + shortcut)

    class ResNet18(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = (64, 128, 256, 512)
            cin = 64
            for i, width in enumerate(widths, start=1):
                stride = 1 if i == 1 else 2
                setattr(
                    self,
                    f"layer{i}",
                    nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1)),
                )
                cin = width
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def load_init_weights(network: nn.Module, path: str) -> None:
    """Load a torchvision ResNet-18 state dict (all but its classifier) into ``network``."""
    torch = import_torch()
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"init_weights: {file} is not a file")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"init_weights: {file} is not a PyTorch state dict: {exc}") from exc
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ConfigError(f"init_weights: {file} holds no state dict")
    backbone = {k: v for k, v in state.items() if not str(k).startswith("fc.")}
    own = network.state_dict()
    unknown = sorted(k for k in backbone if k not in own)
    missing = sorted(k for k in own if not k.startswith("fc.") and k not in backbone)
    if unknown or missing:
        sample = (unknown or missing)[:3]
        raise ConfigError(
            f"init_weights: {file} is not a torchvision ResNet-18 state dict "
            f"({len(unknown)} unknown and {len(missing)} missing parameters, e.g. {sample})"
        )
    wrong = [k for k, v in backbone.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise ConfigError(f"init_weights: parameters of another shape in {file}: {wrong[:3]}")
    network.load_state_dict(backbone, strict=False)
    log.info("initialised resnet18 from %s (%d tensors)", file, len(backbone))


def build_network(settings: CnnSettings, shape: Sequence[int], classes: int) -> nn.Module:
    """The network for (channels, height, width) inputs and ``classes`` outputs."""
    channels = int(shape[0])
    if settings.architecture == "resnet18":
        if channels != 3:
            raise ConfigError("resnet18 takes RGB images: set the preprocessing mode to RGB")
        network = resnet18(classes)
        if settings.init_weights:
            load_init_weights(network, settings.init_weights)
        return network
    return small_cnn(channels, classes)


# --- training, export, parity -------------------------------------------------------------
def fit_cnn(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    params: Mapping[str, Any],
    probe: np.ndarray,
) -> tuple[bytes, dict[str, Any]]:
    """The ``cnn`` fitter (see :mod:`modelyard.training.images.estimators`): train on ``x``
    (n, C, H, W float32) with class indices ``y``, export to ONNX, check it on ``probe``."""
    result = train_cnn(x, y, len(classes), CnnSettings.from_params(params), probe)
    return result.onnx_bytes, result.report()


def train_cnn(
    x: np.ndarray, y: np.ndarray, classes: int, settings: CnnSettings, probe: np.ndarray
) -> CnnResult:
    """Train, export and check; the device is chosen and logged (and reported) here."""
    torch = import_torch()
    if x.ndim != 4:
        raise ConfigError(
            f"image_model.preprocessing.cnn.layout: the cnn takes nchw tensors, got tensors "
            f"of shape {x.shape[1:]}"
        )
    device = resolve_device(settings.device)
    where = device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(0)})"
    log.info(
        "training %s on %s (PyTorch %s): %d images of %s, %d classes, %d epochs",
        settings.architecture,
        where,
        torch.__version__,
        len(x),
        "x".join(map(str, x.shape[1:])),
        classes,
        settings.epochs,
    )
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    network = build_network(settings, x.shape[1:], classes).to(device)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    started = time.perf_counter()
    history: list[dict[str, float]] = []
    with progress_bar(f"training {settings.architecture} on {device}", settings.epochs) as bar:
        for epoch in range(1, settings.epochs + 1):
            loss, accuracy = _epoch(
                network,
                optimiser,
                loss_fn,
                inputs,
                labels,
                settings=settings,
                device=device,
                generator=generator,
            )
            history.append({"loss": loss, "accuracy": accuracy})
            bar.advance()
            bar.describe(
                f"training {settings.architecture} on {device}: epoch {epoch}, loss {loss:.4f}"
            )
            log.info(
                "cnn epoch %d/%d: training loss %.4f, accuracy %.3f",
                epoch,
                settings.epochs,
                loss,
                accuracy,
            )
    seconds = time.perf_counter() - started
    network = network.to("cpu").eval()
    onnx_bytes = export_onnx(network, tuple(x.shape[1:]))
    expected = probabilities(network, probe)
    gap = check_parity(onnx_bytes, probe, expected, "PyTorch")
    log.info(
        "trained in %.1fs on %s; exported to ONNX (%d kB), agrees with PyTorch on %d "
        "held-out images (max difference %.1e)",
        seconds,
        device,
        len(onnx_bytes) // 1024,
        len(probe),
        gap,
    )
    return CnnResult(onnx_bytes, device, gap, history, seconds)


def _epoch(
    network: nn.Module,
    optimiser: Any,
    loss_fn: Any,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    settings: CnnSettings,
    device: str,
    generator: torch.Generator,
) -> tuple[float, float]:
    """One pass over the training images in shuffled mini-batches: mean loss, accuracy."""
    torch = import_torch()
    network.train()
    order = torch.randperm(len(inputs), generator=generator)
    total_loss, correct, seen = 0.0, 0, 0
    for start in range(0, len(order), settings.batch_size):
        batch = order[start : start + settings.batch_size]
        if len(batch) < 2:  # batch normalisation needs two images
            continue
        images, targets = inputs[batch].to(device), labels[batch].to(device)
        optimiser.zero_grad()
        logits = network(images)
        loss = loss_fn(logits, targets)
        loss.backward()
        optimiser.step()
        total_loss += float(loss.item()) * len(batch)
        correct += int((logits.argmax(1) == targets).sum().item())
        seen += len(batch)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def probabilities(network: nn.Module, batch: np.ndarray) -> np.ndarray:
    """PyTorch's class probabilities for ``batch`` (the network in eval mode, on the CPU)."""
    torch = import_torch()
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        out: np.ndarray = _with_softmax(network)(tensor).numpy()
    return out


def _with_softmax(network: nn.Module) -> nn.Module:
    from torch import nn

    return nn.Sequential(network, nn.Softmax(dim=1)).eval()


def export_onnx(network: nn.Module, shape: tuple[int, ...]) -> bytes:
    """The network with a softmax as an ONNX graph: ``input`` (n, *shape) → ``probabilities``."""
    torch = import_torch()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter needs no onnxscript; PyTorch marks it deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _with_softmax(network),
            (torch.zeros((1, *shape), dtype=torch.float32),),
            buffer,
            input_names=["input"],
            output_names=["probabilities"],
            dynamic_axes={"input": {0: "n"}, "probabilities": {0: "n"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buffer.getvalue()
