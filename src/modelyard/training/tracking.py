"""Logging a training run to MLflow and registering its model, over HTTP only.

Everything here talks to the tracking server named by ``Settings.tracking_uri``; the
server stores the artifacts (``--serve-artifacts``), so training needs no shared folder.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import tempfile
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.config import masked_url
from modelyard.errors import ConfigError, RegistryError, RegistryUnavailableError
from modelyard.profile import PROFILE_ARTIFACT, profile_json
from modelyard.registry import CHALLENGER, REFUSED, Registry, access_refused, refused_status

if TYPE_CHECKING:
    from modelyard.config import MlflowCredentials, Settings
    from modelyard.inputs.tabular import FeatureSchema

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
CONFUSION_ARTIFACT = "plots/confusion_matrix.png"
INPUT_EXAMPLE_ROWS = 5
PROBE_AROUND_ROWS = 5000  # the compiled graph is checked on rows around these


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs are logged and models registered (from the settings)."""

    tracking_uri: str
    model_name: str
    ui_url: str
    http_retries: int = 2
    http_timeout: int = 30
    model_name_explicit: bool = False
    """Whether ``model_name`` was configured on purpose (not the settings' default)."""
    model_name_source: str = ""
    """Where the model name came from, in words (see :mod:`modelyard.training.naming`)."""
    credentials: MlflowCredentials | None = None
    """The login sent to the server (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TrackingTarget:
        return cls(
            tracking_uri=settings.tracking_uri,
            model_name=settings.model_name,
            ui_url=settings.mlflow_ui_url,
            http_retries=settings.mlflow_http_retries,
            http_timeout=settings.mlflow_http_timeout,
            model_name_explicit="model_name" in settings.model_fields_set,
            credentials=settings.mlflow_credentials,
        )

    def named(self, name: str, source: str) -> TrackingTarget:
        """The same target, registering under ``name``."""
        return dataclasses.replace(self, model_name=name, model_name_source=source)

    def registry(self) -> Registry:
        """The registry client, with the settings' HTTP retry policy and login."""
        return Registry(
            self.tracking_uri,
            self.model_name,
            http_retries=self.http_retries,
            http_timeout=self.http_timeout,
            credentials=self.credentials,
        )

    def failed(self, what: str, exc: Exception) -> RegistryError:
        """What MLflow's client raised, as our error: a refused login names its settings."""
        status = refused_status(exc)
        if status is not None:
            return access_refused(self.tracking_uri, status, what, self.credentials)
        return RegistryError(f"{what} on {masked_url(self.tracking_uri)} failed: {exc}")

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    experiment_id: str
    model_uri: str
    run_url: str


def check_reachable(
    tracking_uri: str, credentials: MlflowCredentials | None = None, timeout: float = 5.0
) -> None:
    """Fail fast when the tracking server does not answer (RegistryUnavailableError) or
    refuses the login (RegistryAuthError): before minutes of training, not after.

    ``/health`` answers without a login even behind MLflow's basic-auth app; a search for
    one experiment, which any user may run, tells whether the server takes ours.
    """
    import httpx

    from modelyard.registry import rest_client

    where = masked_url(tracking_uri)
    if not tracking_uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"MLFLOW_TRACKING_URI must be the http(s) URL of an MLflow server, got {where!r}"
        )
    base = tracking_uri.rstrip("/") + "/"
    try:
        with rest_client(base, timeout, credentials=credentials) as client:
            response = client.get("health")
            if response.status_code >= 500:
                raise RegistryUnavailableError(
                    f"MLflow at {where} answered {response.status_code} to /health"
                )
            login = client.get("api/2.0/mlflow/experiments/search", params={"max_results": "1"})
    except httpx.HTTPError as exc:
        raise RegistryUnavailableError(f"MLflow at {where} is unreachable: {exc}") from exc
    if login.status_code in REFUSED:
        raise access_refused(tracking_uri, login.status_code, "search experiments", credentials)


def model_signature(
    features: Sequence[str], nullable: Collection[str] = (), categorical: Collection[str] = ()
) -> Any:
    """Named input columns (what serving compiles its FeatureSchema from) → a label.

    Numeric features are double columns, ``categorical`` ones string columns. A ``nullable``
    feature (the model imputes it or handles it natively) is an optional column
    (``required=False``): MLflow and other tools then take a missing value for it.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema(
            [
                ColSpec(
                    "string" if name in categorical else "double",
                    name,
                    required=name not in nullable,
                )
                for name in features
            ]
        ),
        outputs=Schema([ColSpec("string")]),
    )


def _use_server(tracking_uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    # MLflow's INFO lines (waiting on a version, the uv project it found) repeat what this
    # module logs; its warning that the venv has no pip concerns conda.yaml, which we do not use
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)


@contextmanager
def _mlflow_prints_to_debug() -> Iterator[None]:
    """Keep what MLflow writes straight to stdout/stderr ("🏃 View run ...", "Created version
    ...") out of the service's output: this module logs the same events once, as log lines.
    Our own log handler holds the real stderr, so log records still reach it."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        for line in (out.getvalue() + err.getvalue()).splitlines():
            if line.strip():
                log.debug("mlflow: %s", line.strip())


@dataclass
class RunRecord:
    """The MLflow run a :func:`training_run` block logs into; set ``model_uri`` in it."""

    target: TrackingTarget
    experiment: str
    run_id: str = ""
    experiment_id: str = ""
    model_uri: str = ""

    def logged(self) -> LoggedRun:
        return LoggedRun(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            model_uri=self.model_uri,
            run_url=self.target.run_url(self.experiment_id, self.run_id),
        )


@contextmanager
def training_run(target: TrackingTarget, experiment: str) -> Iterator[RunRecord]:
    """An MLflow run on the target's server, in ``experiment``, for a block that logs to it.

    MLflow's own prints go to the debug log; anything the block raises that is not already
    a modelyard error becomes a RegistryError naming the server. The run's ids are in the
    record; the block sets ``model_uri`` when it logs the model.
    """
    import mlflow

    check_reachable(target.tracking_uri, target.credentials)
    target.registry()  # applies the HTTP retry policy and the login to MLflow's client
    _use_server(target.tracking_uri)
    record = RunRecord(target, experiment)
    try:
        exp = mlflow.set_experiment(experiment)
        with _mlflow_prints_to_debug(), mlflow.start_run(experiment_id=exp.experiment_id) as run:
            record.run_id = str(run.info.run_id)
            record.experiment_id = str(exp.experiment_id)
            yield record
    except (ConfigError, RegistryError):
        raise
    except Exception as exc:
        raise target.failed("logging the training run", exc) from exc
    log.info(
        "logged run %s to experiment %r: %s", record.run_id, experiment, record.logged().run_url
    )


def log_run(
    target: TrackingTarget,
    *,
    experiment: str,
    model: Any,
    matrix_example: np.ndarray,
    schema: FeatureSchema,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    confusion_png: bytes,
    profile: Mapping[str, Any],
    trusted_types: Sequence[str],
) -> LoggedRun:
    """One MLflow run: params, metrics, the confusion plot, the profile and the model."""
    import mlflow
    import mlflow.sklearn

    example = schema.frame(matrix_example[:INPUT_EXAMPLE_ROWS])
    with training_run(target, experiment) as record:
        mlflow.log_params({k: param_value(v) for k, v in params.items()})
        mlflow.log_metrics(dict(metrics))
        with tempfile.TemporaryDirectory(prefix="modelyard-train-") as tmp:
            png = Path(tmp) / Path(CONFUSION_ARTIFACT).name
            png.write_bytes(confusion_png)
            mlflow.log_artifact(str(png), artifact_path=str(Path(CONFUSION_ARTIFACT).parent))
        mlflow.log_text(profile_json(dict(profile)), PROFILE_ARTIFACT)
        with warnings.catch_warnings():
            # MLflow scores the input example as a DataFrame; the model takes the
            # matrix FeatureSchema builds, in the signature's column order.
            warnings.filterwarnings("ignore", message="X has feature names")
            info = mlflow.sklearn.log_model(
                model,
                name=MODEL_ARTIFACT,
                signature=model_signature(schema.names, schema.nullable, schema.categories),
                input_example=example,
                skops_trusted_types=list(trusted_types) or None,
                # the model needs scikit-learn and skops (and its boosting library), not the
                # whole training project
                pip_requirements=model_requirements(model),
            )
        rows = [
            {str(k): v if isinstance(v, str) else float(v) for k, v in r.items()}
            for r in example.to_dict("records")
        ]
        compiled = _log_prepared(info.model_id, model, matrix_example, rows, schema)
        mlflow.set_tag("modelyard.runtime", "onnxruntime" if compiled else "sklearn")
        record.model_uri = str(info.model_uri)
    return record.logged()


# The distributions that provide the estimator libraries a pipeline may end in (the
# xgboost-cpu wheel is the `xgboost` module without the CUDA libraries).
_DISTRIBUTIONS = {"xgboost": ("xgboost-cpu", "xgboost"), "lightgbm": ("lightgbm",)}


def model_requirements(model: Any) -> list[str]:
    """The pip requirements of a fitted pipeline logged with the skops format: scikit-learn
    and skops, and the installed distribution of XGBoost or LightGBM when it ends in one."""
    from importlib import metadata

    import mlflow.sklearn

    requirements: list[str] = list(mlflow.sklearn.get_default_pip_requirements(include_skops=True))
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    if type(final).__name__ == "EncodedLabels":
        final = final.estimator_  # the estimator it wraps
    package = type(final).__module__.partition(".")[0]
    for distribution in _DISTRIBUTIONS.get(package, ()):
        try:
            requirements.append(f"{distribution}=={metadata.version(distribution)}")
            break
        except metadata.PackageNotFoundError:
            continue
    return requirements


def _log_prepared(
    model_id: str,
    model: Any,
    matrix_example: np.ndarray,
    example: list[dict[str, Any]],
    schema: FeatureSchema,
) -> bool:
    """Add the serving runtime's prepared folder (ONNX graph, ``meta.json``) to the model.

    Servers then download it with the model instead of compiling it themselves, so a
    serving-only installation needs neither scikit-learn nor skl2onnx. Returns whether the
    model compiled to ONNX (when not, servers score it with scikit-learn).
    """
    from mlflow import MlflowClient

    from modelyard.inference.prepare import PREPARED_DIR, sklearn_prepared, write_prepared

    meta, onnx_bytes = sklearn_prepared(
        copy.deepcopy(model),
        schema,
        example,
        probe_around=matrix_example[:PROBE_AROUND_ROWS],
    )
    if onnx_bytes is None:
        log.warning(
            "the model did not compile to ONNX; servers score it with scikit-learn: %s",
            meta["not_compiled"],
        )
    else:
        log.info(
            "compiled the model to ONNX (%d kB), checked against scikit-learn",
            len(onnx_bytes) // 1024,
        )
    with tempfile.TemporaryDirectory(prefix="modelyard-prepared-") as tmp:
        write_prepared(Path(tmp), meta, onnx_bytes)
        MlflowClient().log_model_artifacts(model_id, str(Path(tmp) / PREPARED_DIR), PREPARED_DIR)
    return onnx_bytes is not None


def param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


def register_version(
    target: TrackingTarget, run: LoggedRun, tags: Mapping[str, str]
) -> tuple[Registry, str]:
    """Register the run's model as a new version with ``tags``; give it the challenger alias."""
    import mlflow

    target.registry()  # applies the HTTP retry policy and the login to MLflow's client
    _use_server(target.tracking_uri)
    try:
        with _mlflow_prints_to_debug():
            mv = mlflow.register_model(run.model_uri, target.model_name, tags=dict(tags))
    except Exception as exc:
        raise target.failed(f"registering {target.model_name!r}", exc) from exc
    version = str(mv.version)
    registry = target.registry()
    registry.set_alias(CHALLENGER, version)
    return registry, version
