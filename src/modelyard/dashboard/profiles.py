"""Training profiles (per-feature bins of the training data) of the versions being scored.

A profile is read from the model's run in MLflow once and then remembered: it never changes
for a given run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.dashboard.queries import numbers
from modelyard.inputs.tabular import category_codes
from modelyard.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureBins:
    bin_edges: list[float]
    bin_counts: list[float]
    categories: list[str] | None = None  # a categorical feature's, one bin per category

    def scale(self, values: list[Any]) -> list[float]:
        """Stored values on the bins' scale: numbers, or a category's code (values that
        are neither are left out)."""
        if self.categories is None:
            return numbers(values)
        codes = category_codes(values, self.categories)
        return [float(c) for c in codes[np.isfinite(codes)]]


def feature_bins(profile: Mapping[str, Any]) -> dict[str, FeatureBins]:
    """Per-feature bins from a profile document (``{"features": {name: {...}}}`` or flat)."""
    features = profile.get("features", profile)
    out: dict[str, FeatureBins] = {}
    if not isinstance(features, Mapping):
        return out
    for name, doc in features.items():
        if not isinstance(doc, Mapping):
            continue
        edges, counts = doc.get("bin_edges"), doc.get("bin_counts")
        if isinstance(edges, list) and isinstance(counts, list) and len(edges) == len(counts) + 1:
            categories = doc.get("categories")
            out[str(name)] = FeatureBins(
                [float(e) for e in edges],
                [float(c) for c in counts],
                [str(c) for c in categories] if isinstance(categories, list) else None,
            )
    return out


class TrainingProfiles:
    """Profile bins per model version, loaded from MLflow on first use and then kept."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._by_version: dict[str, dict[str, FeatureBins]] = {}
        self._lock = threading.Lock()

    def cached(self, version: str) -> dict[str, FeatureBins] | None:
        with self._lock:
            return self._by_version.get(version)

    def for_version(self, version: str) -> dict[str, FeatureBins]:
        """Bins of the version's training data (raises RegistryError when MLflow fails)."""
        known = self.cached(version)
        if known is not None:
            return known
        info = self._registry.resolve(version)
        bins: dict[str, FeatureBins] = {}
        if info.run_id:
            from modelyard.profile import load_profile

            registry = self._registry
            bins = feature_bins(
                load_profile(registry.tracking_uri, info.run_id, registry.credentials)
            )
        with self._lock:
            self._by_version[version] = bins
        return bins
