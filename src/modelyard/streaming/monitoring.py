"""Live model quality and feature drift, computed from plain arrays.

Quality: accuracy, per-class recall and the confusion counts of the labelled rows in the
rolling window. Drift: the population stability index (PSI) of the recent values on the
training profile's bins, and the one-sample Kolmogorov-Smirnov test (``scipy.stats.kstest``)
of the recent values against the training distribution described by the profile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PSI_FLOOR = 1e-4  # share given to an empty bin, so that the log stays finite


@dataclass(frozen=True)
class Quality:
    labelled_rows: int
    accuracy: float | None
    per_class_recall: dict[str, float | None]
    confusion: dict[str, dict[str, int]]


def quality(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] = ()) -> Quality:
    """Accuracy, recall per true class and confusion counts over paired labels."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    pairs = Counter(zip(truth, predicted, strict=True))
    labels = sorted({*classes, *truth, *predicted})
    confusion = {t: {p: pairs.get((t, p), 0) for p in labels} for t in labels}
    recall: dict[str, float | None] = {}
    for label in labels:
        support = sum(confusion[label].values())
        recall[label] = confusion[label][label] / support if support else None
    correct = sum(n for (t, p), n in pairs.items() if t == p)
    accuracy = correct / len(truth) if truth else None
    return Quality(len(truth), accuracy, recall, confusion)


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's training distribution: histogram on fixed bins plus quantiles."""

    name: str
    bin_edges: np.ndarray  # (bins + 1,)
    bin_counts: np.ndarray  # (bins,)
    quantiles: tuple[tuple[float, float], ...]  # (probability, value), sorted

    @classmethod
    def from_json(cls, name: str, doc: Mapping[str, Any]) -> FeatureProfile:
        edges = np.asarray(doc["bin_edges"], dtype=np.float64)
        counts = np.asarray(doc["bin_counts"], dtype=np.float64)
        if edges.ndim != 1 or counts.shape != (len(edges) - 1,) or len(counts) < 1:
            raise ValueError(f"feature {name!r}: bin_edges must be one longer than bin_counts")
        return cls(name, edges, counts, _parse_quantiles(doc.get("quantiles")))

    def expected_shares(self) -> np.ndarray:
        total = self.bin_counts.sum()
        return self.bin_counts / total if total > 0 else np.full_like(self.bin_counts, 1.0)

    def cdf(self, values: np.ndarray) -> np.ndarray:
        """Training CDF at ``values``: piecewise linear through the bin edges and quantiles."""
        cumulative = np.concatenate([[0.0], np.cumsum(self.expected_shares())])
        probs = np.concatenate([cumulative / cumulative[-1], [q for q, _ in self.quantiles]])
        points = np.concatenate([self.bin_edges, [v for _, v in self.quantiles]])
        order = np.lexsort((points, probs))
        probs, points = probs[order], np.maximum.accumulate(points[order])
        return np.asarray(np.interp(values, points, probs, left=0.0, right=1.0))


def _parse_quantiles(raw: Any) -> tuple[tuple[float, float], ...]:
    """Accept {"p25": value, ...}, {"0.25": value}, [[0.25, value], ...]."""
    pairs: list[tuple[float, float]] = []
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            name = str(key).lower()
            percent = name[:1] in {"p", "q"}
            try:
                q = float(name[1:] if percent else name)
            except ValueError:
                continue
            pairs.append((q / 100.0 if percent or q > 1 else q, float(value)))
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        pairs = [
            (float(item[0]), float(item[1]))
            for item in raw
            if isinstance(item, Sequence) and len(item) == 2
        ]
    return tuple(sorted(p for p in pairs if 0.0 <= p[0] <= 1.0))


@dataclass(frozen=True)
class Drift:
    feature: str
    rows: int
    psi: float
    ks_statistic: float
    ks_p_value: float


def psi(profile: FeatureProfile, values: np.ndarray) -> float:
    """Population stability index of ``values`` on the training bins (outer bins open)."""
    edges = profile.bin_edges.copy()
    edges[0], edges[-1] = -np.inf, np.inf
    counts, _ = np.histogram(values, bins=edges)
    actual = np.maximum(counts / max(len(values), 1), PSI_FLOOR)
    expected = np.maximum(profile.expected_shares(), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(profile: FeatureProfile, values: np.ndarray) -> Drift:
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError(f"no values of {profile.name!r} to compare")
    result = stats.kstest(values, profile.cdf)
    return Drift(
        feature=profile.name,
        rows=len(values),
        psi=psi(profile, values),
        ks_statistic=float(result.statistic),
        ks_p_value=float(result.pvalue),
    )


@dataclass(frozen=True)
class TrainingProfile:
    rows: int
    labels: Any  # as the training pipeline wrote it (class counts)
    features: dict[str, FeatureProfile]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TrainingProfile:
        raw = doc.get("features")
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError("the training profile has no features")
        return cls(
            rows=int(doc.get("rows") or 0),
            labels=doc.get("labels"),
            features={str(n): FeatureProfile.from_json(str(n), d) for n, d in raw.items()},
        )
