"""Which columns a batch reads, carries and writes, checked before any row is scored.

The output holds the input's *key* columns (by default every column that is not a feature:
ids, timestamps, a true label; ``--key`` names them instead, comma separated, and ``--key ''``
carries none), then ``label`` and one ``probability_<class>`` column per class of a model
that gives class probabilities. The rejects file holds ``row`` (the row's number in the
input, 1 = the first row after a CSV's header), ``reason``, ``field`` (the feature at fault,
if one is), then the key and feature columns as they were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.errors import ConfigError
from modelyard.inputs.tabular import FeatureSchema

LABEL = "label"
PROBABILITY = "probability_"
ROW = "row"
REASON = "reason"
FIELD = "field"


@dataclass(frozen=True)
class Layout:
    """The columns of one batch: what is read, what is carried, what is written."""

    features: tuple[str, ...]
    keys: tuple[str, ...]
    classes: tuple[str, ...]  # the model's classes, one probability column each

    @property
    def probability_columns(self) -> list[str]:
        return [f"{PROBABILITY}{c}" for c in self.classes]

    @property
    def output_columns(self) -> list[str]:
        return [*self.keys, LABEL, *self.probability_columns]

    @property
    def rejects_columns(self) -> list[str]:
        carried = [k for k in self.keys if k not in self.features]
        return [ROW, REASON, FIELD, *carried, *self.features]


def parse_keys(text: str | None) -> tuple[str, ...] | None:
    """``--key`` as column names (None: the default, every non-feature column)."""
    if text is None:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


def plan_layout(
    columns: Sequence[str],
    schema: FeatureSchema,
    classes: Sequence[object],
    keys: Sequence[str] | None,
    where: str,
) -> Layout:
    """The layout of an input with ``columns`` for a model with ``schema`` and ``classes``.

    A ConfigError naming the columns when a feature or a named key is missing from the
    input (``where`` names it), or when a carried column would clash with an output column.
    """
    present = set(columns)
    missing = [name for name in schema.names if name not in present]
    if missing:
        raise ConfigError(
            f"{where} lacks the model's feature column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (the model takes {', '.join(schema.names)}; "
            f"the file has {', '.join(columns) or 'no columns'})"
        )
    if keys is None:
        carried = tuple(c for c in columns if c not in schema.index)
    else:
        unknown = [k for k in keys if k not in present]
        if unknown:
            raise ConfigError(
                f"--key: {where} has no column {', '.join(unknown)} (it has {', '.join(columns)})"
            )
        carried = tuple(dict.fromkeys(keys))
    layout = Layout(tuple(schema.names), carried, tuple(str(c) for c in classes))
    written = {LABEL, *layout.probability_columns}
    clash = [k for k in carried if k in written]
    if clash:
        raise ConfigError(
            f"{where}: the column {', '.join(clash)} would clash with the output's own; "
            "name the columns to carry with --key"
        )
    return layout
