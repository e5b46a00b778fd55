"""Champion against challenger on the same labelled rows: accuracy, agreement, McNemar's test.

Both versions score every observation (the challenger in the shadow, see
:mod:`modelyard.streaming.shadow`), so each labelled row gives a pair of answers to the same
question. The pairs where exactly one version is right decide which is better: McNemar's
exact test asks whether the challenger's wins among them are more or fewer than chance would
give (a two-sided binomial test at one half). Rows that only one version scored are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """The paired record of two versions over the same labelled rows."""

    rows: int  # labelled rows both versions scored
    champion_accuracy: float | None
    challenger_accuracy: float | None
    agreement: float | None  # share of rows where the two answered the same label
    challenger_wins: int  # rows the challenger got right and the champion wrong
    champion_wins: int  # rows the champion got right and the challenger wrong
    p_value: float | None  # McNemar's exact test on the discordant rows (None: none yet)

    @property
    def difference(self) -> float | None:
        """Challenger accuracy minus champion accuracy."""
        if self.champion_accuracy is None or self.challenger_accuracy is None:
            return None
        return self.challenger_accuracy - self.champion_accuracy


def mcnemar_exact(challenger_wins: int, champion_wins: int) -> float | None:
    """Two-sided p-value of McNemar's exact test; None when no row tells the two apart."""
    from scipy.stats import binomtest

    discordant = challenger_wins + champion_wins
    if discordant == 0:
        return None
    return float(binomtest(challenger_wins, discordant, 0.5).pvalue)


def compare(truth: Sequence[str], champion: Sequence[str], challenger: Sequence[str]) -> Comparison:
    """Compare the two versions' answers ``champion[i]`` and ``challenger[i]`` to ``truth[i]``."""
    if not len(truth) == len(champion) == len(challenger):
        raise ValueError("truth and the two versions' answers differ in length")
    rows = len(truth)
    if rows == 0:
        return Comparison(0, None, None, None, 0, 0, None)
    right_a = [a == t for a, t in zip(champion, truth, strict=True)]
    right_b = [b == t for b, t in zip(challenger, truth, strict=True)]
    challenger_wins = sum(b and not a for a, b in zip(right_a, right_b, strict=True))
    champion_wins = sum(a and not b for a, b in zip(right_a, right_b, strict=True))
    same = sum(a == b for a, b in zip(champion, challenger, strict=True))
    return Comparison(
        rows=rows,
        champion_accuracy=sum(right_a) / rows,
        challenger_accuracy=sum(right_b) / rows,
        agreement=same / rows,
        challenger_wins=challenger_wins,
        champion_wins=champion_wins,
        p_value=mcnemar_exact(challenger_wins, champion_wins),
    )
