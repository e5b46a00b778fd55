"""What a version was trained and evaluated on, recorded as version tags.

Promotion reads these tags, not the models, to tell whether two versions are
interchangeable (same input schema, same labels) and whether their held-out metrics can be
compared (same held-out data). The held-out fingerprint is a hash of the data source kind,
the validated data's content (feature and label columns, in order) and the split
parameters; the file's path is not part of it, so moving a CSV keeps its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

FEATURES_TAG = "modelyard.features"
LABELS_TAG = "modelyard.labels"
HOLDOUT_TAG = "modelyard.holdout"
# MLflow keeps tag values up to 5000 characters; longer lists are recorded as a digest.
MAX_TAG_CHARS = 4000


def _list_tag(values: Sequence[str]) -> str:
    text = json.dumps([str(v) for v in values], separators=(",", ":"))
    if len(text) <= MAX_TAG_CHARS:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _shown(tag: str, limit: int = 6) -> str:
    """A tag value for a message: the list, shortened, or the digest."""
    try:
        values = json.loads(tag)
    except ValueError:
        return tag
    if not isinstance(values, list):
        return tag
    more = f", … ({len(values)} in all)" if len(values) > limit else ""
    return "[" + ", ".join(str(v) for v in values[:limit]) + more + "]"


@dataclass(frozen=True)
class DataIdentity:
    """Input schema, label set and held-out fingerprint of one training run."""

    features: str
    labels: str
    holdout: str

    def tags(self) -> dict[str, str]:
        return {FEATURES_TAG: self.features, LABELS_TAG: self.labels, HOLDOUT_TAG: self.holdout}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> DataIdentity | None:
        """The identity recorded on a version; None when any part is missing."""
        values = [tags.get(key) for key in (FEATURES_TAG, LABELS_TAG, HOLDOUT_TAG)]
        if any(not v for v in values):
            return None
        features, labels, holdout = (str(v) for v in values)
        return cls(features, labels, holdout)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataIdentity:
        return cls(str(data["features"]), str(data["labels"]), str(data["holdout"]))

    def as_dict(self) -> dict[str, str]:
        return {"features": self.features, "labels": self.labels, "holdout": self.holdout}

    def schema_difference(self, other: DataIdentity, whose: str) -> str | None:
        """Why this run's input or labels differ from ``other``'s (``whose``); None when alike."""
        if self.features != other.features:
            return (
                f"input schema {_shown(self.features)} differs from {whose} "
                f"{_shown(other.features)}"
            )
        if self.labels != other.labels:
            return f"labels {_shown(self.labels)} differ from {whose} {_shown(other.labels)}"
        return None


def data_digest(dataset: pd.DataFrame) -> str:
    """A content hash of the validated data: column names, then every value in order."""
    digest = hashlib.sha256(json.dumps([str(c) for c in dataset.columns]).encode())
    hashed = pd.util.hash_pandas_object(dataset, index=False)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def identify(
    dataset: pd.DataFrame,
    features: Sequence[str],
    target: str,
    data: Mapping[str, Any],
    split: Mapping[str, Any],
) -> dict[str, str]:
    """The identity of a run on ``dataset`` (the validated frame) split with ``split``."""
    labels = sorted({str(v) for v in dataset[target]})
    holdout = {
        "source": str(data.get("source", "iris")),
        "target": target,
        "data_sha256": data_digest(dataset[[*features, target]]),
        "test_size": float(split.get("test_size", 0.3)),
        "seed": int(split.get("seed", 0)),
        "stratify": bool(split.get("stratify", True)),
    }
    fingerprint = hashlib.sha256(json.dumps(holdout, sort_keys=True).encode()).hexdigest()
    return DataIdentity(_list_tag(features), _list_tag(labels), fingerprint).as_dict()
