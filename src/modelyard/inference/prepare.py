"""Preparing a registered version in the local model cache, in a process of its own.

``<cache>/<name>/<version>/`` holds the MLflow model as downloaded, and ``modelyard/`` inside
it what a server needs to start from it without MLflow or scikit-learn: ``meta.json`` (the
feature schema, classes, flavour and logged input example) and, for a scikit-learn model
that compiles, ``model.onnx`` (see :mod:`modelyard.inference.compiling`).

Training writes that folder into the model it registers (:func:`sklearn_prepared`), so a
server only downloads it. A version registered without one (by an older release, or any
other MLflow model) is prepared here: compiling imports scikit-learn and skl2onnx, which a
serving-only installation (the ``modelyard-serve`` image) does not have; such versions need
the ``sklearn`` extra.

A server fetches a version from MLflow's HTTP artifact proxy itself when the version's files
are there (:mod:`modelyard.inference.fetch`, no MLflow import). Otherwise, or when the
version came without a prepared folder, it runs ``python -m modelyard.inference.prepare``
and waits for it: that child imports MLflow (seconds and tens of megabytes that a serving
process should not keep), downloads, and compiles only a version registered without a
graph. Both write into a private folder and rename it into place, so that several processes
preparing the same version at once leave one complete copy.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.errors import ModelLoadError
from modelyard.extras import extra_for, lacking
from modelyard.inference.fetch import place
from modelyard.inputs import InputKind, kind_from_meta
from modelyard.inputs.image import ImageSpec
from modelyard.inputs.tabular import FeatureSchema

if TYPE_CHECKING:
    from modelyard.inference.compiling import Compiled

log = logging.getLogger(__name__)

PREPARED_DIR = "modelyard"
META_FILE = "meta.json"
ONNX_FILE = "model.onnx"
FORMAT = 1
PREPARE_TIMEOUT_SECONDS = 900

# What preparing a version did, as the child reports it and the load's log line says it.
DOWNLOADED = "downloaded"
COMPILED = "compiled"
NOT_COMPILED = "not compiled"


@dataclass(frozen=True)
class Prepared:
    """A version in the cache: where its MLflow model is, and what ``meta.json`` says."""

    path: Path
    inputs: InputKind[Any]  # the model's input kind, rebuilt from meta.json
    classes: tuple[Any, ...]
    flavor: str
    input_example: list[dict[str, float]]
    onnx_input: str | None  # the compiled graph's input dtype; None when not compiled
    onnx_output: str
    not_compiled: str | None

    @property
    def onnx_path(self) -> Path | None:
        return self.path / PREPARED_DIR / ONNX_FILE if self.onnx_input else None


def read_prepared(target: Path) -> Prepared | None:
    """The prepared version at ``target``, or None when it is missing or from another format."""
    try:
        meta = json.loads((target / PREPARED_DIR / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    try:
        inputs = kind_from_meta(meta)
    except ValueError as exc:
        raise ModelLoadError(f"cannot read {target / PREPARED_DIR / META_FILE}: {exc}") from exc
    return Prepared(
        path=target,
        inputs=inputs,
        classes=tuple(meta["classes"]),
        flavor=str(meta["flavor"]),
        input_example=list(meta["input_example"]),
        onnx_input=meta.get("onnx_input"),
        onnx_output=str(meta.get("onnx_output") or ""),
        not_compiled=meta.get("not_compiled"),
    )


def prepare_in_child(
    tracking_uri: str, name: str, version: str, target: Path
) -> tuple[Prepared, str]:
    """Run :func:`prepare` in a child process (see the module doc); its result and what it did."""
    command = [
        sys.executable,
        "-m",
        "modelyard.inference.prepare",
        tracking_uri,
        name,
        version,
        str(target),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PREPARE_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelLoadError(
            f"preparing version {version} of {name!r} took over {PREPARE_TIMEOUT_SECONDS}s"
        ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise ModelLoadError(f"cannot load version {version} of {name!r}: {reason}")
    prepared = read_prepared(target)
    if prepared is None:
        raise ModelLoadError(f"preparing version {version} of {name!r} left no {META_FILE}")
    lines = done.stdout.strip().splitlines()
    return prepared, (lines[-1] if lines else DOWNLOADED)


def prepare(tracking_uri: str, name: str, version: str, target: Path) -> str:
    """Download ``models:/name/version`` into ``target``, write its prepared folder if it has
    none; what it did: :data:`DOWNLOADED`, :data:`COMPILED` or :data:`NOT_COMPILED`."""
    import mlflow
    from mlflow.models import Model

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    _download(f"models:/{name}/{version}", target)
    if read_prepared(target) is not None:
        return DOWNLOADED
    try:
        meta = Model.load(str(target))
        schema = FeatureSchema.from_signature(meta.signature)
        example_frame = meta.load_input_example(str(target))
    except ImportError as exc:
        raise _lacking(name, version, exc) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot read the model's metadata: {exc}") from exc
    example: list[dict[str, float]] = []
    if example_frame is not None and hasattr(example_frame, "to_dict"):
        example = [
            {str(k): float(v) for k, v in row.items()}
            for row in example_frame.to_dict(orient="records")
        ]
    if "sklearn" not in meta.flavors:
        reason = "only scikit-learn models are compiled"
        write_prepared(
            target,
            _meta(schema, (), "python_function", example, compiled=None, not_compiled=reason),
            None,
        )
        return NOT_COMPILED
    try:
        import mlflow.sklearn
    except ImportError as exc:
        raise _lacking(name, version, exc) from exc
    try:
        estimator = mlflow.sklearn.load_model(str(target))
    except Exception as exc:
        raise ModelLoadError(f"cannot load the scikit-learn model: {exc}") from exc
    meta_doc, onnx_bytes = sklearn_prepared(estimator, schema, example)
    write_prepared(target, meta_doc, onnx_bytes)
    return COMPILED if onnx_bytes is not None else NOT_COMPILED


def _lacking(name: str, version: str, exc: ImportError) -> ModelLoadError:
    module, extra = extra_for(exc)
    return ModelLoadError(
        f"version {version} of {name!r} was registered without a compiled ONNX graph, and "
        f"preparing it needs {lacking(module, extra or 'sklearn')}"
    )


def sklearn_prepared(
    estimator: Any,
    schema: FeatureSchema,
    example: list[dict[str, float]],
    probe_around: np.ndarray | None = None,
) -> tuple[dict[str, Any], bytes | None]:
    """``meta.json`` and, when it compiles, the ONNX graph of a fitted scikit-learn model.

    Training calls this on the model it logs, so that registered versions carry their
    prepared folder; :func:`prepare` calls it for versions registered without one. The
    estimator may be changed (see :mod:`modelyard.inference.compiling`): pass a copy of
    one still in use. Probe rows are spread around ``probe_around`` (default: the example).
    """
    from modelyard.inference.compiling import (
        NotCompilableError,
        compile_sklearn,
        probe_rows,
        takes_matrix,
    )

    classes = tuple(getattr(estimator, "classes_", ()))
    compiled = None
    reason: str | None
    if not takes_matrix(estimator, schema.names):
        reason = "the model selects its input columns by name"
    else:
        around = probe_around
        if around is None:
            around = schema.rows_to_matrix(example or [dict.fromkeys(schema.names, 0.0)])
        try:
            compiled = compile_sklearn(estimator, probe_rows(np.asarray(around, np.float64)))
            reason = None
        except NotCompilableError as exc:
            reason = str(exc)
    meta = _meta(schema, classes, "sklearn", example, compiled=compiled, not_compiled=reason)
    return meta, compiled.onnx_bytes if compiled else None


def _meta(
    schema: FeatureSchema,
    classes: Sequence[Any],
    flavor: str,
    example: list[dict[str, float]],
    *,
    compiled: Compiled | None,
    not_compiled: str | None,
) -> dict[str, Any]:
    """The ``meta.json`` document that :func:`read_prepared` reads back."""
    return {
        "format": FORMAT,
        **schema.meta(),
        "classes": [_plain(c) for c in classes],
        "flavor": flavor,
        "input_example": example,
        "onnx_input": compiled.input_dtype if compiled else None,
        "onnx_output": compiled.output if compiled else None,
        "not_compiled": not_compiled,
    }


def image_meta(
    spec: ImageSpec, classes: Sequence[Any], flavor: str, onnx_input: str = "float32"
) -> dict[str, Any]:
    """``meta.json`` of an image classifier whose ONNX graph takes ``spec``'s tensors and
    answers class probabilities (an output named ``probabilities``, columns in ``classes``
    order)."""
    return {
        "format": FORMAT,
        **spec.meta(),
        "classes": [_plain(c) for c in classes],
        "flavor": flavor,
        "input_example": [],
        "onnx_input": onnx_input,
        "onnx_output": "probabilities",
        "not_compiled": None,
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def write_prepared(target: Path, meta: dict[str, Any], onnx_bytes: bytes | None) -> None:
    """Write ``target/modelyard/`` atomically (another process may be writing it too)."""
    partial = Path(tempfile.mkdtemp(prefix=f".{PREPARED_DIR}-", dir=target))
    try:
        if onnx_bytes is not None:
            (partial / ONNX_FILE).write_bytes(onnx_bytes)
        (partial / META_FILE).write_text(json.dumps(meta, indent=1))
        dest = target / PREPARED_DIR
        try:
            partial.rename(dest)
        except OSError:
            if read_prepared(target) is not None:  # another process prepared it first
                return
            # an unreadable folder from an interrupted or older release: replace it
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=target))
            dest.rename(stale / PREPARED_DIR)
            shutil.rmtree(stale, ignore_errors=True)
            partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _download(uri: str, target: Path) -> Path:
    """Download a model's artifacts once into ``target`` (atomically), then reuse them.

    Several processes (API workers, the streaming worker) may download the same version at
    once: each downloads into a folder of its own and renames it into place; the first
    rename wins and the others keep the winner's copy.
    """
    import mlflow.artifacts

    if (target / "MLmodel").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(partial))
        except Exception as exc:
            raise ModelLoadError(f"cannot download {uri}: {exc}") from exc
        found = next(partial.rglob("MLmodel"), None)
        if found is None:
            raise ModelLoadError(f"{uri} has no MLmodel file")
        place(found.parent, target, uri)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def main(argv: list[str]) -> int:
    """``python -m modelyard.inference.prepare TRACKING_URI NAME VERSION TARGET``."""
    logging.basicConfig(level=logging.WARNING, format="prepare | %(message)s")
    if len(argv) != 4:
        print("usage: prepare TRACKING_URI NAME VERSION TARGET", file=sys.stderr)  # noqa: T201
        return 2
    tracking_uri, name, version, target = argv
    try:
        outcome = prepare(tracking_uri, name, version, Path(target))
    except ModelLoadError as exc:
        print(exc, file=sys.stderr)  # noqa: T201
        return 1
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(outcome)  # noqa: T201 - read back by prepare_in_child
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
