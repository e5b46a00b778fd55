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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.bindings import source_of
from modelyard.errors import ModelLoadError
from modelyard.extras import extra_for, lacking
from modelyard.inference.fetch import place
from modelyard.inputs import InputKind, kind_from_meta
from modelyard.inputs.image import ImageSpec
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import access_refused, refused_status

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
    input_example: list[dict[str, Any]]
    onnx_input: str | None  # the compiled graph's input dtype; None when not compiled
    onnx_output: str
    not_compiled: str | None
    # how an in-process pyfunc takes its rows: {"layout": "frame", "dtypes": [...]} (a
    # DataFrame with the feature names, columns of those numpy types) or {"layout":
    # "tensor", "dtype": ...} (one array)
    python_input: dict[str, Any] = field(default_factory=dict)

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
        python_input=dict(meta.get("python_input") or {}),
    )


def prepare_in_child(tracking_uri: str, uri: str, target: Path, what: str) -> tuple[Prepared, str]:
    """Run :func:`prepare` in a child process (see the module doc); its result and what it did.

    ``uri`` is what MLflow downloads (``models:/name/3``, ``runs:/...``, ``models:/m-...``, a
    folder); ``what`` names it in errors (``version 3 of 'iris'``).
    """
    command = [sys.executable, "-m", "modelyard.inference.prepare", tracking_uri, uri, str(target)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PREPARE_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelLoadError(f"preparing {what} took over {PREPARE_TIMEOUT_SECONDS}s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise ModelLoadError(f"cannot load {what}: {reason}")
    prepared = read_prepared(target)
    if prepared is None:
        raise ModelLoadError(f"preparing {what} left no {META_FILE}")
    lines = done.stdout.strip().splitlines()
    return prepared, (lines[-1] if lines else DOWNLOADED)


def prepare(tracking_uri: str, uri: str, target: Path) -> str:
    """Download the model at ``uri`` into ``target``, write its prepared folder if it has none;
    what it did: :data:`DOWNLOADED`, :data:`COMPILED` or :data:`NOT_COMPILED`.

    Any MLflow model is prepared: scikit-learn, XGBoost and LightGBM models (compiled to ONNX
    when they convert exactly, else scored in process by their own library) and any other
    pyfunc (scored in process). Its features come from the signature (named columns, or one
    tensor of ``n`` columns, named ``"0"``..), else from the fitted estimator or the logged
    input example.
    """
    import mlflow
    from mlflow.models import Model

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    _download(model_uri(uri), target)
    if read_prepared(target) is not None:
        return DOWNLOADED
    try:
        meta = Model.load(str(target))
        example_frame = meta.load_input_example(str(target))
    except ImportError as exc:
        raise _lacking(uri, exc) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot read the model's metadata: {exc}") from exc
    flavor = next((f for f in NATIVE_FLAVORS if f in meta.flavors), "python_function")
    estimator = _native_model(meta, flavor, target, uri) if flavor != "python_function" else None
    schema, python_input = _features(meta.signature, estimator, example_frame)
    example = _example(example_frame, schema)
    if estimator is None or not hasattr(estimator, "predict"):
        reason = (
            "only scikit-learn, XGBoost and LightGBM models are compiled"
            if estimator is None
            else f"its {flavor} model is not an estimator"
        )
        doc = _meta(schema, (), "python_function", example, compiled=None, not_compiled=reason)
        write_prepared(target, {**doc, "python_input": python_input}, None)
        return NOT_COMPILED
    meta_doc, onnx_bytes = sklearn_prepared(estimator, schema, example)
    write_prepared(target, {**meta_doc, "flavor": flavor}, onnx_bytes)
    return COMPILED if onnx_bytes is not None else NOT_COMPILED


# Flavours whose own model is a scikit-learn style estimator (fit, predict, predict_proba).
NATIVE_FLAVORS = ("sklearn", "xgboost", "lightgbm")


def model_uri(uri: str) -> str:
    """``uri`` as MLflow downloads it: a bare ``runs:/<id>`` becomes that run's one model."""
    source = source_of(uri)
    if source is None or source.kind != "run" or source.uri != f"runs:/{source.run_id}":
        return uri
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run_id = str(source.run_id)
    try:
        run = client.get_run(run_id)
        models = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}'",
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot find run {run_id}: {exc}") from exc
    if len(models) == 1:
        return f"models:/{models[0].model_id}"
    if models:
        names = ", ".join(sorted(f"runs:/{run_id}/{m.name}" for m in models))
        raise ModelLoadError(f"run {run_id} logged {len(models)} models: name one of {names}")
    folders = [
        entry.path
        for entry in client.list_artifacts(run_id)
        if entry.is_dir
        and any(f.path.endswith("/MLmodel") for f in client.list_artifacts(run_id, entry.path))
    ]
    if len(folders) == 1:
        return f"runs:/{run_id}/{folders[0]}"
    raise ModelLoadError(
        f"run {run_id} has {'no' if not folders else len(folders)} logged models: "
        + ("name one as runs:/RUN_ID/PATH" if folders else "log one with mlflow.<flavor>.log_model")
    )


def _native_model(meta: Any, flavor: str, target: Path, uri: str) -> Any:
    """The model of a native flavour, loaded with its own library (a booster of XGBoost's or
    LightGBM's native API as their scikit-learn estimator)."""
    import importlib

    try:
        from modelyard.inference.converters import sklearn_api

        module = importlib.import_module(f"mlflow.{flavor}")
        return sklearn_api(module.load_model(str(target)))
    except ImportError as exc:
        raise _lacking(uri, exc) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot load the {flavor} model: {exc}") from exc


def _features(signature: Any, estimator: Any, example: Any) -> tuple[FeatureSchema, dict[str, Any]]:
    """The model's features, and how an in-process pyfunc is fed them (``python_input``).

    A feature may be missing (is nullable) when its signature column is optional
    (``required=False``), and every feature may be when the model handles missing values.
    """
    schema, python_input = _declared_features(signature, estimator, example)
    if _handles_missing(estimator):
        schema = schema.allowing_missing()
    return schema, python_input


# Steps that keep a missing value (NaN) missing, in front of an estimator that handles it.
_NAN_PRESERVING = frozenset({"StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"})


def _handles_missing(estimator: Any) -> bool:
    """Whether ``estimator`` takes missing values: a pipeline that starts with a
    SimpleImputer, or an XGBoost or LightGBM estimator (behind scalers, if any, and the
    label-encoding wrapper training puts around XGBoost's classifier)."""
    steps = [step for _, step in getattr(estimator, "steps", None) or []] or [estimator]
    if type(steps[0]).__name__ == "SimpleImputer":
        return True
    final = steps[-1]
    if type(final).__name__ == "EncodedLabels":
        final = getattr(final, "estimator_", final)
    return type(final).__module__.partition(".")[0] in ("xgboost", "lightgbm") and all(
        type(step).__name__ in _NAN_PRESERVING for step in steps[:-1]
    )


def _declared_features(
    signature: Any, estimator: Any, example: Any
) -> tuple[FeatureSchema, dict[str, Any]]:
    """The features the signature, the estimator or the input example names."""
    inputs = getattr(signature, "inputs", None)
    if inputs is not None and getattr(inputs, "is_tensor_spec", lambda: False)():
        specs = inputs.inputs
        shape = tuple(getattr(specs[0], "shape", ()) or ())
        if len(specs) != 1 or len(shape) != 2 or shape[1] is None or shape[1] < 1:
            raise ModelLoadError(
                "the model's tensor signature is not one (rows, features) tensor: "
                f"{[getattr(s, 'shape', None) for s in specs]}"
            )
        dtype = str(getattr(specs[0], "type", "float64"))
        return FeatureSchema(tuple(str(i) for i in range(int(shape[1])))), {
            "layout": "tensor",
            "dtype": dtype,
        }
    categories = encoder_categories(estimator)
    if inputs is not None:
        try:
            schema = FeatureSchema.from_signature(signature, categories)
        except ValueError as exc:
            raise ModelLoadError(f"cannot serve the model: {exc}") from exc
        dtypes = [_numpy_type(spec) for spec in inputs.inputs]
        return schema, {"layout": "frame", "dtypes": dtypes}
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        named = FeatureSchema(tuple(map(str, names)))
        return named.with_categories(categories), {"layout": "frame"}
    count = getattr(estimator, "n_features_in_", None)
    if count:
        return FeatureSchema(tuple(str(i) for i in range(int(count)))), {"layout": "tensor"}
    if example is not None and hasattr(example, "columns"):
        return FeatureSchema(tuple(map(str, example.columns))), {"layout": "frame"}
    raise ModelLoadError(
        "the model was logged without a signature or an input example, so its features are "
        "unknown: log it with signature=infer_signature(X, y) or an input_example"
    )


def encoder_categories(estimator: Any) -> dict[str, list[str]]:
    """The categories of the string columns a fitted pipeline encodes by name: those of each
    OneHotEncoder or OrdinalEncoder (alone, or first in a pipeline) that a ColumnTransformer
    applies to named columns, or that starts the pipeline."""
    found: dict[str, list[str]] = {}
    steps = getattr(estimator, "steps", None)
    first = steps[0][1] if steps else estimator
    if first is None:
        return found
    parts = getattr(first, "transformers_", None)
    if parts is None:
        names = getattr(first, "feature_names_in_", None)  # an array: no truth value
        parts = [("", first, [] if names is None else list(names))]
    for _, transformer, columns in parts:
        encoder = transformer
        inner = getattr(transformer, "steps", None)
        if inner:
            encoder = next((s for _, s in inner if type(s).__name__ in _ENCODERS), inner[0][1])
        if type(encoder).__name__ not in _ENCODERS or isinstance(columns, str):
            continue
        learned = getattr(encoder, "categories_", None) or ()
        for column, values in zip(np.atleast_1d(columns).tolist(), learned, strict=False):
            strings = [v for v in values.tolist() if isinstance(v, str)]
            if isinstance(column, str) and strings:
                found[column] = strings
    return found


_ENCODERS = frozenset({"OneHotEncoder", "OrdinalEncoder"})


def _numpy_type(spec: Any) -> str:
    """The numpy dtype of a column spec (``long`` is int64, ``double`` float64...)."""
    kind = str(getattr(spec, "type", "")).lower().split(".")[-1]
    return {"long": "int64", "integer": "int32", "float": "float32", "string": "object"}.get(
        kind, "float64"
    )


def _example(frame: Any, schema: FeatureSchema) -> list[dict[str, Any]]:
    """The logged input example as rows of the schema's features (empty when it has none)."""
    if frame is None:
        return []
    try:
        import pandas as pd

        rows = pd.DataFrame(frame)
        rows.columns = [str(c) for c in rows.columns]
        return [
            {
                name: str(row[name]) if name in schema.categories else float(row[name])
                for name in schema.names
            }
            for row in rows.to_dict(orient="records")
        ]
    except (KeyError, TypeError, ValueError):
        return []


def _lacking(uri: str, exc: ImportError) -> ModelLoadError:
    module, extra = extra_for(exc)
    return ModelLoadError(
        f"{uri} was registered without a compiled ONNX graph, and "
        f"preparing it needs {lacking(module, extra or 'sklearn')}"
    )


def sklearn_prepared(
    estimator: Any,
    schema: FeatureSchema,
    example: list[dict[str, Any]],
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
        category_probe,
        compile_sklearn,
        on_codes,
        probe_rows,
        takes_matrix,
    )

    classes = tuple(getattr(estimator, "classes_", ()))
    compiled = None
    reason: str | None
    on_matrix = on_codes(estimator, schema)
    if on_matrix is None and takes_matrix(estimator, schema.names):
        on_matrix = estimator
    if on_matrix is None:
        reason = "the model selects its input columns by name"
    else:
        around = probe_around
        if around is None:
            around = schema.rows_to_matrix(_probe_centre(example, schema))
        probe = category_probe(probe_rows(np.asarray(around, np.float64)), schema)
        missing = [i for i, n in enumerate(schema.names) if n not in schema.categories]
        try:
            if on_matrix is not estimator:
                _check_on_codes(estimator, on_matrix, schema, probe)
            compiled = compile_sklearn(on_matrix, probe, missing)
            reason = None
        except NotCompilableError as exc:
            reason = str(exc)
    meta = _meta(schema, classes, "sklearn", example, compiled=compiled, not_compiled=reason)
    return meta, compiled.onnx_bytes if compiled else None


def _probe_centre(example: list[dict[str, Any]], schema: FeatureSchema) -> list[dict[str, Any]]:
    """The example's complete rows (a row with a missing value is no centre to probe
    around), or one row of zeros and first categories."""
    complete = [r for r in example if all(isinstance(v, str) or np.isfinite(v) for v in r.values())]
    default = {n: schema.categories[n][0] if n in schema.categories else 0.0 for n in schema.names}
    return complete or [default]


def _check_on_codes(estimator: Any, on_matrix: Any, schema: FeatureSchema, probe: Any) -> None:
    """Refuse to score ``on_matrix`` (the pipeline after its ``codes`` step) unless it answers
    the validated matrix as the whole pipeline answers the DataFrame of categories."""
    from modelyard.inference.compiling import NotCompilableError

    method = "predict_proba" if hasattr(estimator, "predict_proba") else "predict"
    whole = np.asarray(getattr(estimator, method)(schema.frame(probe)))
    part = np.asarray(getattr(on_matrix, method)(probe))
    if whole.shape != part.shape or not np.array_equal(whole, part):
        raise NotCompilableError("the pipeline after its codes step answers differently")


def _meta(
    schema: FeatureSchema,
    classes: Sequence[Any],
    flavor: str,
    example: list[dict[str, Any]],
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
        "input_example": _json_example(example, schema),
        "onnx_input": compiled.input_dtype if compiled else None,
        "onnx_output": compiled.output if compiled else None,
        "not_compiled": not_compiled,
    }


def _json_example(example: list[dict[str, Any]], schema: FeatureSchema) -> list[dict[str, Any]]:
    """The example's rows as JSON takes them and the schema validates them: a missing value
    (NaN) of a nullable feature as null; a row with any other non-finite value left out."""
    rows = []
    for row in example:
        plain = {k: None if k in schema.nullable and np.isnan(v) else v for k, v in row.items()}
        if all(v is None or isinstance(v, str) or np.isfinite(v) for v in plain.values()):
            rows.append(plain)
    return rows


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
    """``python -m modelyard.inference.prepare TRACKING_URI MODEL_URI TARGET``."""
    logging.basicConfig(level=logging.WARNING, format="prepare | %(message)s")
    if len(argv) != 3:
        print("usage: prepare TRACKING_URI MODEL_URI TARGET", file=sys.stderr)  # noqa: T201
        return 2
    tracking_uri, uri, target = argv
    try:
        outcome = prepare(tracking_uri, uri, Path(target))
    except Exception as exc:
        status = refused_status(exc) or refused_status(exc.__cause__ or exc)
        if status is not None:  # MLflow's own words would not name the settings to fix
            message = str(access_refused(tracking_uri, status, "download the model", None))
        elif isinstance(exc, ModelLoadError):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)  # noqa: T201
        return 1
    print(outcome)  # noqa: T201 - read back by prepare_in_child
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
