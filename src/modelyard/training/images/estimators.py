"""The image estimators: each fits on preprocessed tensors and returns a checked ONNX graph.

A fitter is ``fit(x, y, classes, params, probe) -> (onnx_bytes, report)``:

- ``x``: the training tensors, float32 ``(n, *tensor_shape)``; ``y``: int64 indices into
  ``classes`` (sorted class names, the order of the graph's ``probabilities`` columns);
- ``params``: ``image_model.epochs`` and ``image_model.seed``, overridden by the
  estimator's own table in ``image_model.hyperparameters``;
- ``probe``: held-out tensors, never trained on: the exported graph must agree with the
  native model on them (:func:`check_parity`) before anything is registered;
- the graph takes a float32 tensor ``(None, *tensor_shape)`` and has an output named
  ``probabilities`` ``(n, len(classes))``; ``report`` is JSON-able (logged with the run;
  a ``loss`` list becomes a per-epoch metric).

``logistic_regression`` (the fast baseline) and ``mlp`` are scikit-learn's, exported with
skl2onnx; ``cnn`` is PyTorch's, in :mod:`modelyard.training.images.cnn` (``fit_cnn``), and
needs the ``torch`` extra.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from modelyard.errors import ConfigError, MissingExtraError, ModelyardError
from modelyard.training.images.progress import progress_bar

log = logging.getLogger(__name__)

Fitter = Callable[
    [np.ndarray, np.ndarray, Sequence[str], Mapping[str, Any], np.ndarray],
    tuple[bytes, dict[str, Any]],
]

ESTIMATORS = ("logistic_regression", "mlp", "cnn")
PROBABILITIES = "probabilities"
PARITY_TOLERANCE = 1e-4
_COMMON = ("epochs", "seed")  # fitter parameters that are not the estimator's own


class ExportMismatchError(ModelyardError):
    """The exported ONNX graph does not score as the model it was exported from."""


def fitter_for(name: str) -> Fitter:
    """The fit function of estimator ``name`` (a clear error for unknown or uninstalled)."""
    if name == "logistic_regression":
        return fit_logistic_regression
    if name == "mlp":
        return fit_mlp
    if name == "cnn":
        try:
            # imported by name: the module (and PyTorch) may not be installed
            module = importlib.import_module("modelyard.training.images.cnn")
        except ImportError as exc:
            raise MissingExtraError(
                "image_model.estimator: 'cnn' is a PyTorch network and needs modelyard[torch] "
                f"({exc}); install it with `uv sync --extra torch`, or choose "
                "logistic_regression or mlp"
            ) from exc
        fit_cnn: Fitter = module.fit_cnn
        return fit_cnn
    raise ConfigError(f"image_model.estimator: {name!r} is not one of {list(ESTIMATORS)}")


def fit_params(image_model: Mapping[str, Any], name: str) -> dict[str, Any]:
    """What the fitter of ``name`` gets: epochs and seed, then its hyperparameters."""
    table = image_model.get("hyperparameters") or {}
    return {
        "epochs": int(image_model.get("epochs", 50)),
        "seed": int(image_model.get("seed", 0)),
        **dict(table.get(name) or {}),
    }


# --- scikit-learn ------------------------------------------------------------------------------
def _estimator_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in params.items() if k not in _COMMON}
    kwargs["random_state"] = int(params.get("seed", 0))
    return kwargs


def _build(cls: Any, name: str, params: Mapping[str, Any]) -> Any:
    kwargs = _estimator_kwargs(params)
    if "hidden_layer_sizes" in kwargs:
        kwargs["hidden_layer_sizes"] = tuple(int(v) for v in kwargs["hidden_layer_sizes"])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"image_model.hyperparameters.{name}: {exc}") from exc


def fit_logistic_regression(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    params: Mapping[str, Any],
    probe: np.ndarray,
) -> tuple[bytes, dict[str, Any]]:
    """Multinomial logistic regression on the pixels: the fast baseline."""
    from sklearn.linear_model import LogisticRegression

    model = _build(LogisticRegression, "logistic_regression", params)
    started = time.perf_counter()
    with progress_bar("fitting logistic_regression", 1) as bar:
        _fit_quietly(model, "logistic_regression", x, y)
        bar.advance()
    report = {
        "iterations": int(np.max(model.n_iter_)),
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    log.info(
        "fitted logistic_regression on %d images, %d features in %.1fs (%d iterations)",
        len(x),
        x.shape[1],
        report["fit_seconds"],
        report["iterations"],
    )
    return _export_checked(model, classes, probe), report


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    params: Mapping[str, Any],
    probe: np.ndarray,
) -> tuple[bytes, dict[str, Any]]:
    """A multi-layer perceptron on the pixels, one ``partial_fit`` pass per epoch.

    Stops early when the training loss has not improved by ``tol`` for
    ``n_iter_no_change`` epochs (scikit-learn's own rule, applied per epoch here).
    """
    from sklearn.neural_network import MLPClassifier

    model = _build(MLPClassifier, "mlp", params)
    if model.solver not in ("adam", "sgd"):
        raise ConfigError("image_model.hyperparameters.mlp.solver: 'adam' or 'sgd' (per epoch)")
    epochs = int(params.get("epochs", 50))
    if epochs < 1:
        raise ConfigError(f"image_model.epochs: at least 1, got {epochs}")
    labels = np.arange(len(classes))
    losses: list[float] = []
    best, stale = np.inf, 0
    started = time.perf_counter()
    with progress_bar(f"training mlp for up to {epochs} epochs", epochs) as bar:
        for epoch in range(1, epochs + 1):
            try:
                model.partial_fit(x, y, classes=labels)
            except ValueError as exc:
                raise ConfigError(f"image_model.hyperparameters.mlp: {exc}") from exc
            loss = float(model.loss_)
            losses.append(loss)
            bar.advance()
            bar.describe(f"training mlp: epoch {epoch}/{epochs}, loss {loss:.4f}")
            if epoch == 1 or epoch % 10 == 0:
                log.info("mlp epoch %d/%d: training loss %.4f", epoch, epochs, loss)
            if loss > best - model.tol:
                stale += 1
            else:
                stale = 0
            best = min(best, loss)
            if stale >= model.n_iter_no_change:
                log.info(
                    "mlp stopped after epoch %d: the loss improved by less than %g for %d epochs",
                    epoch,
                    model.tol,
                    stale,
                )
                break
    report = {
        "epochs": len(losses),
        "loss": losses,
        "fit_seconds": round(time.perf_counter() - started, 3),
    }
    log.info(
        "fitted mlp %s on %d images, %d features: %d epochs in %.1fs, final loss %.4f",
        list(model.hidden_layer_sizes),
        len(x),
        x.shape[1],
        len(losses),
        report["fit_seconds"],
        losses[-1],
    )
    return _export_checked(model, classes, probe), report


def _fit_quietly(model: Any, name: str, x: np.ndarray, y: np.ndarray) -> None:
    """Fit, turning scikit-learn's convergence warning into a log line."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            model.fit(x, y)
        except ValueError as exc:
            raise ConfigError(f"image_model.hyperparameters.{name}: {exc}") from exc
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            log.warning("%s did not converge: %s", name, str(warning.message).splitlines()[0])
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def export_sklearn(model: Any, n_features: int) -> bytes:
    """A fitted scikit-learn classifier as ONNX: float32 ``input`` → ``probabilities``."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
    )
    outputs = [o.name for o in onnx_model.graph.output]
    if PROBABILITIES not in outputs:
        raise ExportMismatchError(f"the ONNX graph has no {PROBABILITIES!r} output ({outputs})")
    return bytes(onnx_model.SerializeToString())


def _export_checked(model: Any, classes: Sequence[str], probe: np.ndarray) -> bytes:
    if list(model.classes_) != list(range(len(classes))):
        raise ExportMismatchError(
            f"the model learnt {len(model.classes_)} of the {len(classes)} classes; "
            "every class must be in the training split"
        )
    onnx_bytes = export_sklearn(model, int(probe.shape[1]))
    expected = model.predict_proba(probe)
    gap = check_parity(onnx_bytes, probe, expected, "scikit-learn's predict_proba")
    log.info(
        "exported to ONNX (%d kB); agrees with scikit-learn on %d held-out images "
        "(max difference %.1e)",
        len(onnx_bytes) // 1024,
        len(probe),
        gap,
    )
    return onnx_bytes


def check_parity(
    onnx_bytes: bytes,
    probe: np.ndarray,
    expected: np.ndarray,
    reference: str,
    tolerance: float = PARITY_TOLERANCE,
) -> float:
    """The largest difference between the graph's probabilities on ``probe`` and
    ``expected`` (the native model's); an :class:`ExportMismatchError` over ``tolerance``."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(probe, dtype=np.float32)}
    (got,) = session.run([PROBABILITIES], feed)
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        raise ExportMismatchError(
            f"the ONNX graph answers probabilities of shape {got.shape}; {reference} "
            f"answers {want.shape}"
        )
    gap = float(np.abs(got - want).max()) if got.size else 0.0
    if not gap <= tolerance:
        raise ExportMismatchError(
            f"the ONNX graph's probabilities differ from {reference} by up to {gap:.2e} on "
            f"{len(probe)} held-out images (tolerance {tolerance:g}); nothing was registered"
        )
    return gap
