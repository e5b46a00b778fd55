"""What one training run produced, as returned by :func:`modelyard.training.train`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainResult:
    """The logged run, the registered version and whether it became champion."""

    run_id: str
    run_url: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    model_name: str = ""
    model_name_source: str = ""
    estimator: str = ""
    experiment_id: str = ""
    champion: str | None = None
    reason: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
