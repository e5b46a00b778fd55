"""The worker's recent failure rate and the judgement on it: green, amber or red.

The worker keeps the outcome of the last ``window`` rows it processed; its ``/ready``
answers the judgement (level and reason in words), and the dashboard's worker card shows
the same, so a model that fails every row (other data, another schema) cannot look healthy.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["green", "amber", "red"]
MIN_ROWS = 20
"""Fewer recent rows than this are too few to judge: the level stays green."""


@dataclass(frozen=True)
class FailureRate:
    """The failures among the last ``rows`` processed rows, judged against two thresholds."""

    level: Level
    reason: str
    rows: int
    failed: int
    rate: float
    top_reason: str | None
    window: int
    warning: float
    critical: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def judge(
    rows: int,
    failed: int,
    top_reason: str | None,
    *,
    window: int,
    warning: float,
    critical: float,
) -> FailureRate:
    """Amber when at least ``warning`` of the recent rows failed, red above ``critical``."""
    rate = failed / rows if rows else 0.0
    level: Level = "green"
    if rows >= MIN_ROWS and failed:
        if rate > critical:
            level = "red"
        elif rate >= warning:
            level = "amber"
    if not failed:
        reason = f"no failures in the last {rows} rows" if rows else "no rows processed yet"
    elif level == "green":
        reason = f"{failed} of the last {rows} rows failed"
    else:
        reason = f"{rate:.0%} of the last {rows} rows failed: {top_reason}"
    return FailureRate(level, reason, rows, failed, rate, top_reason, window, warning, critical)


class FailureWindow:
    """Outcomes of the last ``size`` processed rows (thread safe: the worker writes, HTTP reads)."""

    def __init__(self, size: int = 200, warning: float = 0.1, critical: float = 0.5) -> None:
        self.size = size
        self.warning = warning
        self.critical = critical
        self._outcomes: deque[str | None] = deque()
        self._reasons: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, ok: int, failures: Sequence[tuple[int, str]], ok_ids: Sequence[int] = ()) -> None:
        """Record a batch: ``ok`` rows scored and ``failures`` as (observation id, reason).

        With ``ok_ids`` (the scored rows' ids) the outcomes are kept in observation order,
        so that a batch larger than the window keeps its true mix.
        """
        outcomes: list[str | None]
        if not failures:
            outcomes = [None] * min(ok, self.size)
        elif ok_ids:
            merged = sorted([(i, None) for i in ok_ids] + list(failures), key=lambda o: o[0])
            outcomes = [reason for _, reason in merged][-self.size :]
        else:
            outcomes = [None] * ok + [reason for _, reason in failures]
            outcomes = outcomes[-self.size :]
        with self._lock:
            for outcome in outcomes:
                if len(self._outcomes) == self.size:
                    dropped = self._outcomes.popleft()
                    if dropped is not None:
                        self._reasons[dropped] -= 1
                        if not self._reasons[dropped]:
                            del self._reasons[dropped]
                self._outcomes.append(outcome)
                if outcome is not None:
                    self._reasons[outcome] += 1

    def clear(self) -> None:
        """Forget the outcomes (another model version: its rows are judged afresh)."""
        with self._lock:
            self._outcomes.clear()
            self._reasons.clear()

    def judge(self) -> FailureRate:
        with self._lock:
            rows = len(self._outcomes)
            failed = sum(self._reasons.values())
            top = self._reasons.most_common(1)
        return judge(
            rows,
            failed,
            top[0][0] if top else None,
            window=self.size,
            warning=self.warning,
            critical=self.critical,
        )
