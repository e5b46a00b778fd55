"""Stable element ids of the dashboard page, shared by the layout, the callbacks and the tests."""

from __future__ import annotations

LAST_REFRESH = "last-refresh"

# Live predictions
PREDICTIONS_PANEL = "predictions-panel"
PREDICTIONS_MESSAGE = "predictions-message"
PREDICTIONS_TABLE = "predictions-table"
PREDICTIONS_RATE = "predictions-rate-chart"
PREDICTIONS_SUMMARY = "predictions-summary"
PREDICTIONS_BODY = "predictions-body"

# Quality
QUALITY_PANEL = "quality-panel"
QUALITY_MESSAGE = "quality-message"
ACCURACY_CHART = "accuracy-chart"
CONFUSION_CHART = "confusion-chart"
RECALL_CHART = "recall-chart"
QUALITY_SUMMARY = "quality-summary"
QUALITY_BODY = "quality-body"

# Drift
DRIFT_PANEL = "drift-panel"
DRIFT_MESSAGE = "drift-message"
DRIFT_CHART = "drift-chart"
DRIFT_FEATURE = "drift-feature"
DISTRIBUTION_CHART = "distribution-chart"
DRIFT_BODY = "drift-body"
DRIFT_NOISE_NOTE = "drift-noise-note"

# Models
MODELS_PANEL = "models-panel"
MODELS_MESSAGE = "models-message"
MODELS_TABLE = "models-table"
PROMOTE_VERSION = "promote-version"
PROMOTE_BUTTON = "promote-button"
ROLLBACK_BUTTON = "rollback-button"
PROMOTE_CONFIRM = "promote-confirm"
ROLLBACK_CONFIRM = "rollback-confirm"
ADMIN_KEY = "admin-key"
ACTION_RESULT = "models-action-result"
MODELS_VERSION_STORE = "models-version-store"

# Closed loop: retraining triggers and promotion decisions
LOOP_PANEL = "loop-panel"
LOOP_MESSAGE = "loop-message"
LOOP_TRIGGERS = "loop-triggers"
LOOP_DECISIONS = "loop-decisions"
RETRAIN_BUTTON = "retrain-button"
RETRAIN_RESULT = "retrain-result"

# Services
SERVICES_PANEL = "services-panel"
SERVICES_LIST = "services-list"


def service_id(name: str) -> str:
    """Id of one service's status row (``service-api``, ``service-mlflow`` ...)."""
    return f"service-{name}"


# Pipeline
PIPELINE_PANEL = "pipeline-panel"
PIPELINE_LINK = "pipeline-link"
PIPELINE_FRAME = "pipeline-frame"


def timer(panel: str) -> str:
    """Id of the ``dcc.Interval`` that reloads one panel (``predictions-timer`` ...)."""
    return f"{panel}-timer"


TIMED_PANELS = ("services", "predictions", "quality", "drift", "models", "loop", "pipeline")

# Pages
URL = "url"
OVERVIEW_PAGE = "overview-page"
TRY_PAGE = "try-page"
NAV_OVERVIEW = "nav-overview"
NAV_TRY = "nav-try"
TRY_PATH = "/try"

# Try it (an image model's versions side by side)
TRY_PANEL = "try-panel"
TRY_MESSAGE = "try-message"
TRY_MODEL = "try-model"
TRY_RELOAD = "try-reload"
TRY_UPLOAD = "try-upload"
TRY_SAMPLE = "try-sample"
TRY_SAMPLES_NOTE = "try-samples-note"
TRY_IMAGE = "try-image"
TRY_IMAGE_STORE = "try-image-store"
TRY_MODELS_STORE = "try-models-store"
TRY_SIDES = ("left", "right")


def try_side(side: str, part: str) -> str:
    """Id of one side's element (``try-left-chart``, ``try-right-version`` ...)."""
    return f"try-{side}-{part}"
