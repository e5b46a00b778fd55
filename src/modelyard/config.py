"""The one typed settings object for every modelyard service and command.

Values come from environment variables (``MODELYARD_*`` plus MLflow's own
``MLFLOW_TRACKING_URI``) and an optional ``.env`` file in the working folder.
Derived values (URLs, paths under ``MODELYARD_HOME``) are computed here, once,
so that no module reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelyard.bindings import Binding, parse_binding, parse_bindings
from modelyard.errors import SettingsError
from modelyard.security.keys import KeyRing, is_loopback, parse_hashes

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
MLFLOW_MIN_PASSWORD = 12  # MLflow's basic-auth app refuses a shorter password


@dataclass(frozen=True)
class MlflowCredentials:
    """The login every MLflow client sends (HTTP basic auth); the password stays masked in
    a repr, a log line or a traceback."""

    username: str
    password: SecretStr

    @property
    def basic(self) -> tuple[str, str]:
        """``(user, password)``, as httpx takes a basic-auth login."""
        return self.username, self.password.get_secret_value()

    def env(self) -> dict[str, str]:
        """MLflow's own variables for the login: its client reads them from the environment."""
        return {
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password.get_secret_value(),
        }


class Settings(BaseSettings):
    """Configuration of the whole stack; every field is one environment variable."""

    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- state -----------------------------------------------------------------------------
    home: Path = Field(default=Path(".modelyard"), description="State folder.")
    data_dir: Path | None = Field(
        default=None, description="Data folder (default: $MODELYARD_HOME/data)."
    )
    log_level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    kedro_project: Path | None = Field(
        default=None,
        description="Kedro project folder with conf/ (default: the checkout modelyard runs from).",
    )

    # --- MLflow ----------------------------------------------------------------------------
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MODELYARD_MLFLOW_TRACKING_URI"),
        description="Tracking server URL (default: http://127.0.0.1:$MODELYARD_MLFLOW_PORT).",
    )
    mlflow_backend_store_uri: str | None = Field(
        default=None,
        description="Backend store of `modelyard mlflow` (default: SQLite in MODELYARD_HOME).",
    )
    mlflow_artifacts_destination: str | None = Field(
        default=None,
        description="Artifact root served by `modelyard mlflow` (default: MODELYARD_HOME).",
    )
    mlflow_s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias="MLFLOW_S3_ENDPOINT_URL",
        description="S3-compatible server of an s3:// artifact destination (default: AWS S3).",
    )
    aws_access_key_id: str | None = Field(
        default=None,
        validation_alias="AWS_ACCESS_KEY_ID",
        description="Access key of the s3:// artifact destination (`modelyard mlflow`).",
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias="AWS_SECRET_ACCESS_KEY",
        description="Secret key of the s3:// artifact destination (`modelyard mlflow`).",
    )
    mlflow_allowed_hosts: str = Field(
        default="localhost,localhost:*,127.0.0.1,127.0.0.1:*,mlflow,mlflow:*",
        description="Host headers the MLflow server accepts (comma separated).",
    )
    mlflow_public_url: str | None = Field(
        default=None, description="MLflow UI URL for links shown to people (default: tracking URI)."
    )
    mlflow_workers: int = Field(default=1, ge=1, description="`modelyard mlflow` server processes.")
    mlflow_tracking_username: str | None = Field(
        default=None,
        validation_alias="MLFLOW_TRACKING_USERNAME",
        description="User every MLflow client logs in as (HTTP basic auth); the admin "
        "`modelyard mlflow` creates with MODELYARD_MLFLOW_AUTH.",
    )
    mlflow_tracking_password: SecretStr | None = Field(
        default=None,
        validation_alias="MLFLOW_TRACKING_PASSWORD",
        description="Password of MLFLOW_TRACKING_USERNAME.",
    )
    mlflow_auth: bool = Field(
        default=False,
        description="`modelyard mlflow` runs MLflow's basic-auth app: every request but "
        "/health needs a login (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD).",
    )
    mlflow_auth_database_uri: str | None = Field(
        default=None,
        description="Users and permissions of MLflow's basic-auth app (default: SQLite in "
        "MODELYARD_HOME).",
    )
    mlflow_http_retries: int = Field(default=2, ge=0, description="Client retries per request.")
    mlflow_http_timeout: int = Field(default=30, ge=1, description="Client request timeout (s).")

    # --- model -----------------------------------------------------------------------------
    model_name: str = Field(default="iris", description="Registered model name.")
    model_ref: str = Field(
        default="champion",
        description="Model reference (or name@ref) served by /predict and the worker: a "
        "version, an alias, a models:/ or runs:/ URI, a run or logged-model id, or a folder.",
    )
    v1_model: str = Field(
        default="1",
        description="Model reference (or name@ref) bound to /v1/predict (follows a fixed "
        "MODELYARD_MODEL_REF when unset).",
    )
    v2_model: str = Field(
        default="champion",
        description="Model reference (or name@ref) bound to /v2/predict (follows a fixed "
        "MODELYARD_MODEL_REF when unset).",
    )
    models: str = Field(
        default="",
        description="Models the API serves, comma separated name@ref "
        "(empty: MODELYARD_MODEL_NAME at MODELYARD_MODEL_REF).",
    )

    # --- network ---------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address every service binds.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Prediction API port.")
    mlflow_port: int = Field(default=5000, ge=1, le=65535, description="MLflow server port.")
    ui_port: int = Field(default=8050, ge=1, le=65535, description="Dashboard port.")
    viz_port: int = Field(default=4141, ge=1, le=65535, description="Kedro-Viz port.")
    worker_metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Worker /metrics port (0: off)."
    )
    api_url: str | None = Field(default=None, description="API base URL as clients reach it.")
    worker_metrics_url: str | None = Field(default=None, description="Worker /metrics URL.")
    viz_url: str | None = Field(
        default=None, description="Kedro-Viz URL as the dashboard's server reaches it."
    )
    viz_public_url: str | None = Field(
        default=None,
        description="Kedro-Viz URL for links shown to people (default: MODELYARD_VIZ_URL).",
    )

    # --- prediction API --------------------------------------------------------------------
    api_workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    admin_key: SecretStr | None = Field(
        default=None, description="Plain key for admin actions (the local stack's)."
    )
    admin_key_hashes: str = Field(
        default="",
        description="Hashes of the admin keys (`modelyard keygen`), comma separated.",
    )
    api_key_hashes: str = Field(
        default="",
        description="Hashes of the keys the prediction endpoints need (`modelyard keygen`), "
        "comma separated (empty: open).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Key the dashboard sends to the API (when MODELYARD_API_KEY_HASHES is set).",
    )
    metrics_need_key: bool = Field(
        default=False, description="/metrics needs an API key too (when keys are set)."
    )
    rate_limit: str = Field(
        default="",
        description="Requests per key (else per client address), as `limits` writes it: "
        "`100/second`, `1000 per minute` (empty: off).",
    )
    cors_origins: str = Field(
        default="", description="Origins browsers may call the API from, comma separated."
    )
    max_concurrency: int = Field(
        default=1024,
        ge=0,
        description="Most requests in progress per server process; more answer 503 (0: no limit).",
    )
    request_timeout_seconds: float = Field(
        default=60.0, ge=0, description="Longest a request may take; then 504 (0: no limit)."
    )
    max_batch_rows: int = Field(default=10_000, ge=1, description="Most rows in one request.")
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body (bytes)."
    )
    max_image_pixels: int = Field(
        default=89_478_485,
        ge=1,
        description="Most pixels in one image (Pillow's decompression-bomb limit).",
    )
    max_top_k: int = Field(
        default=100, ge=1, description="Most classes an image request may ask for (top_k)."
    )
    image_samples_dir: Path | None = Field(
        default=None,
        description="Images the dashboard offers to try (default: <home>/demo/images).",
    )
    batching: bool = Field(default=True, description="Coalesce concurrent single-row requests.")
    batch_max_size: int = Field(default=64, ge=1, description="Most rows per coalesced call.")
    batch_max_wait_ms: float = Field(
        default=2.0, ge=0, description="Longest a row waits for others to join its batch."
    )
    bench_endpoints: bool = Field(
        default=False, description="Serve /bench/constant (the serving benchmark sets it)."
    )
    registry_poll_seconds: float = Field(default=10.0, ge=0, description="0 disables polling.")
    load_retry_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest pause between model load retries."
    )

    # --- database and streaming ------------------------------------------------------------
    database_url: str | None = Field(
        default=None, description="Predictions database (default: SQLite in MODELYARD_HOME)."
    )
    worker_batch_size: int = Field(default=1000, ge=1, description="Most rows per scored batch.")
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="Worker poll interval when idle."
    )
    worker_monitor_seconds: float = Field(
        default=10.0, gt=0, description="Seconds between live quality/drift snapshots."
    )
    quality_window: int = Field(default=500, ge=1, description="Rows in the rolling window.")
    drift_window: int = Field(default=500, ge=10, description="Recent rows compared for drift.")
    drift_threshold: float = Field(
        default=0.25,
        gt=0,
        description="PSI above which drift alerts (higher on windows too small to tell).",
    )
    worker_log_seconds: float = Field(
        default=30.0, gt=0, description="Seconds between the worker's summary log lines."
    )
    worker_failure_window: int = Field(
        default=200, ge=1, description="Recent rows the worker's failure rate is judged on."
    )
    worker_failure_warning: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of failed recent rows at which the worker turns amber.",
    )
    worker_failure_critical: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of failed recent rows above which the worker turns red.",
    )
    promotion_policy: Literal["manual", "evidence"] = Field(
        default="manual",
        description="manual: a person promotes and rolls back; evidence: the worker promotes "
        "the challenger and rolls back on the live comparison.",
    )
    promotion_min_rows: int = Field(
        default=200, ge=1, description="Labelled rows both versions scored before deciding."
    )
    promotion_margin: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Accuracy lead that decides (either way)."
    )
    promotion_max_p: float = Field(
        default=0.05, gt=0.0, le=1.0, description="McNemar p-value below which a lead counts."
    )
    mirror_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of the API's answered requests scored again by the "
        "MODELYARD_SHADOW_REF version, off the response path (counted in /metrics); 0: none.",
    )
    canary_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of the callers whose default-version requests the "
        "MODELYARD_SHADOW_REF version answers, each caller always alike (X-Caller-Id, else "
        "its API key, else its address); 0: none.",
    )
    shadow_ref: str = Field(
        default="challenger",
        description="Alias or version the worker also scores every observation with (in the "
        "shadow: stored, compared, never acted on) when it names another version; empty: none.",
    )
    worker_retrains: bool = Field(
        default=True,
        description="The worker runs the retrainings asked for (by hand, an alert, the "
        "schedule) as `modelyard retrain` child processes, one at a time.",
    )
    retrain_alerts: str = Field(
        default="ModelyardLiveAccuracyLow,ModelyardFeatureDrift",
        description="Alerts that ask for a retraining when they fire (POST /admin/alerts), "
        "comma separated; empty: none.",
    )
    retrain_cooldown_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Least time between two retrainings an alert starts (a flapping alert "
        "starts one).",
    )
    retrain_interval_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Retrain on a schedule: once in each interval of this many seconds, "
        "counted from the Unix epoch (86400: daily after 00:00 UTC); 0: no schedule.",
    )
    stream_rate: float = Field(default=5.0, ge=0, description="Rows per second from `stream`.")
    stream_label_delay: float = Field(default=5.0, ge=0, description="Seconds until the label.")

    # --- batch scoring ---------------------------------------------------------------------
    batch_chunk_rows: int = Field(
        default=50_000,
        ge=1,
        description="Rows `modelyard score` reads, scores and writes at a time (memory "
        "grows with it, not with the file).",
    )

    # --- dashboard -------------------------------------------------------------------------
    ui_refresh_seconds: float = Field(default=5.0, gt=0, description="Dashboard refresh interval.")
    ui_lag_warning_seconds: float = Field(
        default=30.0, gt=0, description="Worker queue lag the dashboard shows amber above."
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Prometheus the dashboard reads firing alerts from (unset: no alerts shown).",
    )

    # --- monitoring (`modelyard up --monitoring`) ------------------------------------------
    prometheus_port: int = Field(
        default=9090, ge=1, le=65535, description="Port of the Prometheus `up --monitoring` starts."
    )
    alertmanager_port: int = Field(
        default=9093,
        ge=1,
        le=65535,
        description="Port of the Alertmanager `up --monitoring` starts.",
    )

    @field_validator("home", "data_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("mlflow_tracking_username", "mlflow_tracking_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `.env.example` style: `MLFLOW_TRACKING_PASSWORD=` left blank means not set
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _mlflow_login(self) -> Settings:
        user, password = self.mlflow_tracking_username, self.mlflow_tracking_password
        if (user is None) != (password is None):
            given, missing = (
                ("USERNAME", "PASSWORD") if password is None else ("PASSWORD", "USERNAME")
            )
            raise ValueError(
                f"MLFLOW_TRACKING_{given} is set but MLFLOW_TRACKING_{missing} is not: "
                "MLflow's login needs both"
            )
        if user is not None and any(c in user for c in ":\r\n"):
            raise ValueError("MLFLOW_TRACKING_USERNAME: no colon or line break in a user name")
        if self.mlflow_auth:
            if user is None or password is None:
                raise ValueError(
                    "MODELYARD_MLFLOW_AUTH is on: set MLFLOW_TRACKING_USERNAME and "
                    "MLFLOW_TRACKING_PASSWORD (the login of MLflow's admin)"
                )
            if len(password.get_secret_value()) < MLFLOW_MIN_PASSWORD:
                raise ValueError(
                    f"MLFLOW_TRACKING_PASSWORD: MLflow's admin password needs at least "
                    f"{MLFLOW_MIN_PASSWORD} characters"
                )
        return self

    @field_validator("api_key_hashes", "admin_key_hashes")
    @classmethod
    def _hashes(cls, value: str) -> str:
        parse_hashes(value)
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            from limits import parse

            parse(value)
        return value.strip()

    @field_validator("model_ref", "v1_model", "v2_model", "models")
    @classmethod
    def _bindings(cls, value: str) -> str:
        parse_bindings(value, "default")  # refuse a malformed binding when the settings load
        return value

    # --- what the API and the worker serve ---------------------------------------------------
    @cached_property
    def model_binding(self) -> Binding:
        """The model /predict, MLflow scoring, KServe V1 and the worker serve."""
        return parse_binding(self.model_ref, self.model_name)

    @cached_property
    def endpoint_bindings(self) -> dict[str, Binding]:
        """Our own bound endpoints and the model each serves.

        When MODELYARD_MODEL_REF names a fixed source (a run, a logged model, a folder),
        /v1/predict and /v2/predict serve it too unless their own variables are set: such a
        server often has no registry to find version 1 or the champion in.
        """
        primary = self.model_binding

        def bound(field: str, value: str) -> Binding:
            if primary.source is not None and field not in self.model_fields_set:
                return primary
            return parse_binding(value, self.model_name)

        return {
            "/predict": primary,
            "/v1/predict": bound("v1_model", self.v1_model),
            "/v2/predict": bound("v2_model", self.v2_model),
        }

    @cached_property
    def served_models(self) -> tuple[Binding, ...]:
        """MODELYARD_MODELS, or the default model at MODELYARD_MODEL_REF when it is empty."""
        return parse_bindings(self.models, self.model_name) or (self.model_binding,)

    # --- derived values --------------------------------------------------------------------
    @cached_property
    def image_samples(self) -> Path:
        """The folder of sample images (``<class>/<file>``) the dashboard offers to try."""
        return self.image_samples_dir or self.home / "demo" / "images"

    @property
    def client_host(self) -> str:
        """The address a client on this machine uses to reach a service bound to ``host``."""
        return "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host  # noqa: S104

    @cached_property
    def data_path(self) -> Path:
        return self.data_dir if self.data_dir is not None else self.home / "data"

    @cached_property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"http://{self.client_host}:{self.mlflow_port}"

    @cached_property
    def backend_store_uri(self) -> str:
        return self.mlflow_backend_store_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @cached_property
    def artifacts_destination(self) -> str:
        return self.mlflow_artifacts_destination or str((self.home / "mlartifacts").resolve())

    @cached_property
    def mlflow_credentials(self) -> MlflowCredentials | None:
        """The login MLflow clients send, when MLFLOW_TRACKING_USERNAME and _PASSWORD are set."""
        if self.mlflow_tracking_username is None or self.mlflow_tracking_password is None:
            return None
        return MlflowCredentials(self.mlflow_tracking_username, self.mlflow_tracking_password)

    @cached_property
    def mlflow_auth_db_uri(self) -> str:
        return (
            self.mlflow_auth_database_uri or f"sqlite:///{(self.home / 'mlflow-auth.db').resolve()}"
        )

    @cached_property
    def mlflow_ui_url(self) -> str:
        return (self.mlflow_public_url or self.tracking_uri).rstrip("/")

    @cached_property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'modelyard.db').resolve()}"

    @cached_property
    def api_base_url(self) -> str:
        return (self.api_url or f"http://{self.client_host}:{self.api_port}").rstrip("/")

    @cached_property
    def worker_metrics_endpoint(self) -> str:
        return (
            self.worker_metrics_url
            or f"http://{self.client_host}:{self.worker_metrics_port}/metrics"
        )

    @cached_property
    def viz_base_url(self) -> str:
        return (self.viz_url or f"http://{self.client_host}:{self.viz_port}").rstrip("/")

    @cached_property
    def viz_ui_url(self) -> str:
        return (self.viz_public_url or self.viz_base_url).rstrip("/")

    @property
    def admin_key_value(self) -> str | None:
        return self.admin_key.get_secret_value() if self.admin_key else None

    # --- access ----------------------------------------------------------------------------
    @cached_property
    def api_keys(self) -> KeyRing:
        """The keys the prediction endpoints take (none: open)."""
        return KeyRing.of(self.api_key_hashes)

    @cached_property
    def admin_keys(self) -> KeyRing:
        """The keys admin actions take: MODELYARD_ADMIN_KEY_HASHES and MODELYARD_ADMIN_KEY."""
        return KeyRing.of(self.admin_key_hashes, self.admin_key_value)

    @property
    def admin_open(self) -> bool:
        """Admin actions without a key: only on a service bound to loopback."""
        return not self.admin_keys.enabled and is_loopback(self.host)

    @cached_property
    def retrain_check_seconds(self) -> float:
        """How often the worker looks for retraining requests (the registry poll, at least 1 s)."""
        return max(self.registry_poll_seconds, 1.0)

    @cached_property
    def retrain_alert_names(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.retrain_alerts.split(",") if n.strip())

    @cached_property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


def get_settings(**overrides: object) -> Settings:
    """Read the settings now (from the environment and ``.env``), with optional overrides.

    A value that does not parse raises :class:`SettingsError` naming its variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_invalid(exc)) from None


def describe_invalid(exc: ValidationError) -> str:
    """One line per refused value: ``MODELYARD_API_PORT: input should be ..., got 'abc'``."""
    prefix = Settings.model_config.get("env_prefix", "")
    lines = []
    for error in exc.errors(include_url=False):
        if not error["loc"]:
            # a rule across settings: its message names them; the input (every value read,
            # secrets too) stays out
            lines.append(str((error.get("ctx") or {}).get("error", error["msg"])))
            continue
        key = str(error["loc"][0])
        # a field read under its own name; an alias (MLFLOW_TRACKING_URI) is the variable itself
        variable = f"{prefix}{key}".upper() if key in Settings.model_fields else key.upper()
        reason = error["msg"][:1].lower() + error["msg"][1:]
        lines.append(f"{variable}: {reason}, got {error['input']!r}")
    return "\n".join(lines)


def masked_url(url: str) -> str:
    """``url`` with the password of its user info (``scheme://user:password@host``) masked,
    for logs, error messages and pages: a tracking URI or a link may carry credentials."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.partition("@")
    if not sep or not at or ":" not in userinfo or "/" in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{hostpart}"
