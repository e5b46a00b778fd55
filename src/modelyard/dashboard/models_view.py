"""The registry as the Models panel shows it, and the promote / roll back actions.

Everything goes through :class:`modelyard.registry.Registry`; this module only flattens its
answers for display and adds links to the MLflow UI.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from urllib.parse import quote

from modelyard.config import Settings
from modelyard.registry import CHALLENGER, CHAMPION, Registry, VersionInfo

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss")


@dataclass(frozen=True)
class ModelRow:
    """One registered version, ready to show."""

    version: str
    aliases: tuple[str, ...]
    created_at: float
    promoted_at: float | None
    metrics: dict[str, float]
    run_id: str | None
    run_url: str | None
    version_url: str


@dataclass(frozen=True)
class ModelsView:
    name: str
    rows: list[ModelRow]
    aliases: dict[str, str]
    history: list[str]

    @property
    def champion(self) -> str | None:
        return self.aliases.get(CHAMPION)

    @property
    def challenger(self) -> str | None:
        return self.aliases.get(CHALLENGER)

    def metric_names(self) -> list[str]:
        """Metrics to show as columns: the usual headline ones first, then the rest."""
        present = {name for row in self.rows for name in row.metrics}
        first = [name for name in HEADLINE_METRICS if name in present]
        return first + sorted(present - set(first))


class RunLinks:
    """Links into the MLflow UI; a run's experiment id is looked up once and remembered."""

    def __init__(self, registry: Registry, ui_url: str) -> None:
        self._registry = registry
        self._ui_url = ui_url.rstrip("/")
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()

    def experiment_of(self, run_id: str) -> str | None:
        with self._lock:
            known = self._experiments.get(run_id)
        if known is not None:
            return known
        try:
            run = self._registry.client.get_run(run_id)
        except Exception as exc:  # a deleted run only loses its link
            log.warning("cannot read run %s: %s", run_id, exc)
            return None
        experiment = str(run.info.experiment_id)
        with self._lock:
            self._experiments[run_id] = experiment
        return experiment

    def run_url(self, run_id: str | None) -> str | None:
        if not run_id:
            return None
        experiment = self.experiment_of(run_id)
        if experiment is None:
            return None
        return f"{self._ui_url}/#/experiments/{experiment}/runs/{run_id}"

    def version_url(self, name: str, version: str) -> str:
        return f"{self._ui_url}/#/models/{quote(name)}/versions/{version}"


def load_models(registry: Registry, links: RunLinks) -> ModelsView:
    """Versions, aliases and champion history of the model (raises RegistryError)."""
    versions = registry.versions()
    aliases = registry.aliases()
    history = registry.history() if versions else []
    rows = [_row(info, links) for info in versions]
    return ModelsView(registry.name, rows, aliases, history)


def _row(info: VersionInfo, links: RunLinks) -> ModelRow:
    return ModelRow(
        version=info.version,
        aliases=info.aliases,
        created_at=info.created_at,
        promoted_at=info.promoted_at,
        metrics=info.metrics,
        run_id=info.run_id,
        run_url=links.run_url(info.run_id),
        version_url=links.version_url(info.name, info.version),
    )


def admin_key_accepted(settings: Settings, given: str | None) -> bool:
    """True when ``given`` is an admin key, or when none is configured and the dashboard
    listens on loopback only (admin actions are refused, not open, anywhere else)."""
    return settings.admin_keys.allows(given, open_without_keys=settings.admin_open)
