"""Live model quality and feature drift, computed from plain arrays.

Quality: accuracy, per-class recall and the confusion counts of the labelled rows in the
rolling window. Drift: the population stability index (PSI) of the recent values on the
training profile's bins, and the one-sample Kolmogorov-Smirnov test (``scipy.stats.kstest``)
of the recent values against the training distribution described by the profile.

A drift alert needs a PSI above the configured threshold (0.25 by default, the usual "major
shift" mark) and above what sampling noise alone reaches with the window and the training
profile at hand. PSI is biased upwards on small samples: with ``n`` recent and ``m``
training rows on ``k`` bins and no drift at all, ``PSI / (1/n + 1/m)`` is approximately
chi-squared with ``k - 1`` degrees of freedom (Yurdakul, "Statistical properties of the
population stability index", 2018), so 45 rows against 105 score about 0.3 on average.
The threshold in force is therefore the larger of the configured one and that
distribution's 99.9th percentile, and it is stored with every snapshot. The training
deciles are merged first where ties or few rows leave a bin under 5% of the training
rows (the usual minimum share per PSI bin), so that a sliver of a bin cannot dominate.
That approximation holds only while every bin expects a few recent rows: a window smaller
than :func:`min_window` (5 expected rows in the thinnest bin, 50 to 100 rows) leaves bins
empty by chance, and empty bins inflate PSI beyond the noise bound, so it is not measured.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PSI_FLOOR = 1e-4  # share given to an empty bin, so that the log stays finite
PSI_THRESHOLD = 0.25  # default alert threshold: the conventional "major shift" mark
PSI_MIN_BIN_SHARE = 0.05  # training bins holding less are merged with their neighbour
PSI_NOISE_QUANTILE = 0.999  # an alert needs a PSI sampling noise reaches less often
PSI_MIN_EXPECTED_ROWS = 5  # recent rows the thinnest bin must expect before PSI is measured


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

    @property
    def rows(self) -> int:
        return int(self.bin_counts.sum())

    def expected_shares(self) -> np.ndarray:
        total = self.bin_counts.sum()
        return self.bin_counts / total if total > 0 else np.full_like(self.bin_counts, 1.0)

    def psi_bins(self) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts) for PSI: neighbouring bins merged until each holds 5% or more.

        Bins are merged left to right; a bin of zero width (tied deciles) always joins the
        next one, and a remainder too small to stand alone joins the last bin.
        """
        edges, counts = self.bin_edges, self.bin_counts
        least = PSI_MIN_BIN_SHARE * counts.sum()
        kept_edges = [float(edges[0])]
        kept_counts: list[float] = []
        pending = 0.0
        for i, count in enumerate(counts):
            pending += float(count)
            if pending >= least and pending > 0 and edges[i + 1] > kept_edges[-1]:
                kept_edges.append(float(edges[i + 1]))
                kept_counts.append(pending)
                pending = 0.0
        if not kept_counts:
            return np.asarray([edges[0], edges[-1]]), np.asarray([pending])
        kept_edges[-1] = float(edges[-1])
        kept_counts[-1] += pending
        return np.asarray(kept_edges), np.asarray(kept_counts)

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
    threshold: float  # the PSI alert threshold in force for this window
    alert: bool  # psi > threshold


def psi(profile: FeatureProfile, values: np.ndarray) -> float:
    """Population stability index of ``values`` on the training bins (outer bins open)."""
    edges, counts = profile.psi_bins()
    edges = edges.copy()
    edges[0], edges[-1] = -np.inf, np.inf
    found, _ = np.histogram(values, bins=edges)
    actual = np.maximum(found / max(len(values), 1), PSI_FLOOR)
    expected = np.maximum(counts / max(counts.sum(), 1), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def min_window(profile: FeatureProfile) -> int:
    """The fewest recent rows whose PSI on ``profile``'s bins the noise bound describes."""
    counts = profile.psi_bins()[1]
    thinnest = float(counts.min()) / float(counts.sum()) if counts.sum() > 0 else 1.0
    return max(1, math.ceil(PSI_MIN_EXPECTED_ROWS / max(thinnest, PSI_MIN_BIN_SHARE)))


def psi_noise(profile: FeatureProfile, rows: int) -> float:
    """The PSI that sampling noise alone exceeds with probability 0.1% (no drift at all)."""
    from scipy import stats

    bins = len(profile.psi_bins()[1])
    if bins < 2 or rows < 1 or profile.rows < 1:
        return 0.0
    quantile = float(stats.chi2.ppf(PSI_NOISE_QUANTILE, bins - 1))
    return quantile * (1.0 / rows + 1.0 / profile.rows)


def drift(profile: FeatureProfile, values: np.ndarray, threshold: float = PSI_THRESHOLD) -> Drift:
    """PSI and KS of ``values`` against the profile, and whether that is a drift alert."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError(f"no values of {profile.name!r} to compare")
    result = stats.kstest(values, profile.cdf)
    index = psi(profile, values)
    in_force = max(threshold, psi_noise(profile, len(values)))
    return Drift(
        feature=profile.name,
        rows=len(values),
        psi=index,
        ks_statistic=float(result.statistic),
        ks_p_value=float(result.pvalue),
        threshold=in_force,
        alert=index > in_force,
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
