"""What one batch run did: the model, the rows in, scored and rejected, and how long it took."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchSummary:
    """One run's counts, for the log line, the exit code and the MLflow run."""

    model_name: str
    model_version: str
    model_uri: str  # what the reference resolved to: models:/iris/3, runs:/..., a folder
    source: str  # the input file or folder, or the database
    output: str | None  # None: the predictions table
    rejects: str | None  # the rejects file, when a row was rejected
    rows_in: int
    rows_scored: int
    rows_rejected: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    @property
    def clean(self) -> bool:
        """Whether every row was scored."""
        return self.rows_rejected == 0

    def metrics(self) -> dict[str, float]:
        return {
            "rows_in": float(self.rows_in),
            "rows_scored": float(self.rows_scored),
            "rows_rejected": float(self.rows_rejected),
            "duration_seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }

    def params(self) -> dict[str, str]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_uri": self.model_uri,
            "input": self.source,
            "output": self.output or "predictions table",
        }

    def describe(self) -> str:
        """One line for people: what was scored, by which model, where it went."""
        where = self.output or "the predictions table"
        line = (
            f"scored {self.rows_scored} of {self.rows_in} rows of {self.source} with "
            f"{self.model_name} version {self.model_version} in {self.seconds:.1f}s "
            f"({self.rows_per_second:,.0f} rows/s) into {where}"
        )
        if self.rows_rejected:
            line += f"; {self.rows_rejected} rejected"
            if self.rejects:
                line += f" (reasons in {self.rejects})"
        return line
