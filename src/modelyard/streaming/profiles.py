"""Training profiles of the versions the worker scores with, fetched once per version."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from modelyard.errors import ModelyardError
from modelyard.inference.model import LoadedModel
from modelyard.streaming.monitoring import TrainingProfile

if TYPE_CHECKING:
    from modelyard.config import MlflowCredentials

log = logging.getLogger(__name__)

RETRY_SECONDS = 60.0


class ProfileCache:
    """``profile/training_profile.json`` of each model version's run, from MLflow."""

    def __init__(self, tracking_uri: str, credentials: MlflowCredentials | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.credentials = credentials
        self._found: dict[str, TrainingProfile] = {}
        self._failed_at: dict[str, float] = {}

    def get(self, model: LoadedModel) -> TrainingProfile | None:
        """The version's profile; None (retried later) when it cannot be read."""
        key = f"{model.name}/{model.version}"
        if key in self._found:
            return self._found[key]
        failed = self._failed_at.get(key)
        if failed is not None and time.monotonic() - failed < RETRY_SECONDS:
            return None
        run_id = model.info.run_id
        if not run_id:
            self._failed_at[key] = time.monotonic()
            log.warning("version %s has no run; drift is not measured", model.version)
            return None
        from modelyard.profile import load_profile

        try:
            profile = TrainingProfile.from_json(
                load_profile(self.tracking_uri, run_id, self.credentials)
            )
        except (ModelyardError, ValueError, KeyError, TypeError) as exc:
            self._failed_at[key] = time.monotonic()
            log.warning("no training profile for version %s: %s", model.version, exc)
            return None
        self._found[key] = profile
        log.info(
            "training profile of version %s: %d features", model.version, len(profile.features)
        )
        return profile
