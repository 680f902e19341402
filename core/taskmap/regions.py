"""The task map's regions: ambiguous, easy, difficult (METHOD.md §4), by an explicit rule.

Default rule ("rank"): work in percentile ranks r_u of PU and r_p of PP (ECDF: the share of
tasks with a value <= this one), so it adapts to any model and pool, and so the easy/difficult
border is the diagonal the paper's figure shows rather than a box:

    ambiguous  = the `ambiguous_frac` of tasks with the highest PU
    easy       = of the rest, the `easy_frac` with the highest  r_p - r_u   (confident, prompt-certain)
    difficult  = of the rest, the `difficult_frac` with the lowest r_p + r_u (unsure, prompt-certain)
    other      = everything else

Each fraction defaults to 0.2, so a small pool (30-50 tasks) still has enough tasks per region
to train on; the paper's figure has about 0.11 in each (68 of 620). The "threshold" rule uses
fixed PU/PP cut-offs instead (defaults read off the paper's figure). A rule is fitted on one
scored set and can then classify any (PU, PP) point, which is how the map shades its regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.config import RegionRule

REGIONS = ("ambiguous", "easy", "difficult", "other")
TIE = 1e-7  # weight of the raw values in the rank scores: breaks ties, never reorders distinct ranks


@dataclass(frozen=True)
class FittedRule:
    rule: RegionRule
    pu_sorted: np.ndarray
    pp_sorted: np.ndarray
    ambiguous_cut: float = np.inf   # r_u >= cut
    easy_cut: float = np.inf        # r_p - r_u >= cut
    difficult_cut: float = -np.inf  # r_p + r_u <= cut

    def ranks(self, pu: np.ndarray, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = max(len(self.pu_sorted), 1)
        r_u = np.searchsorted(self.pu_sorted, pu, side="right") / n
        r_p = np.searchsorted(self.pp_sorted, pp, side="right") / n
        return r_u, r_p

    def scores(self, pu: np.ndarray, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r_u, r_p - r_u, r_p + r_u): what the rank rule cuts. Rank sums tie often (ranks are
        multiples of 1/n), so a vanishing term in the raw values breaks ties; the rule stays a
        function of (PU, PP) alone."""
        r_u, r_p = self.ranks(pu, pp)
        return r_u + TIE * pu, r_p - r_u + TIE * (pp - pu), r_p + r_u + TIE * (pp + pu)

    def classify(self, pu, pp) -> np.ndarray:
        pu, pp = np.asarray(pu, dtype=float), np.asarray(pp, dtype=float)
        out = np.full(pu.shape, "other", dtype=object)
        r = self.rule
        if r.method == "threshold":
            certain = pu <= r.certain_pu
            out[certain & (pp <= r.difficult_pp)] = "difficult"
            out[certain & (pp >= r.easy_pp)] = "easy"
            out[pu >= r.ambiguous_pu] = "ambiguous"
            return out
        ambiguous, easy_score, difficult_score = self.scores(pu, pp)
        ambiguous = ambiguous >= self.ambiguous_cut
        easy = ~ambiguous & (easy_score >= self.easy_cut)
        difficult = ~ambiguous & ~easy & (difficult_score <= self.difficult_cut)
        out[ambiguous], out[easy], out[difficult] = "ambiguous", "easy", "difficult"
        return out


def fit_rule(pu, pp, rule: RegionRule = RegionRule()) -> FittedRule:
    pu, pp = np.asarray(pu, dtype=float), np.asarray(pp, dtype=float)
    fitted = FittedRule(rule, np.sort(pu), np.sort(pp))
    if rule.method == "threshold" or len(pu) == 0:
        return fitted
    n = len(pu)
    amb_score, easy_score, diff_score = fitted.scores(pu, pp)

    def top_cut(score: np.ndarray, eligible: np.ndarray, frac: float) -> float:
        count = int(round(frac * n))
        values = np.sort(score[eligible])[::-1]
        if count <= 0 or len(values) == 0:
            return np.inf
        return float(values[min(count, len(values)) - 1])

    amb_cut = top_cut(amb_score, np.ones(n, bool), rule.ambiguous_frac)
    rest = amb_score < amb_cut
    easy_cut = top_cut(easy_score, rest, rule.easy_frac)
    rest &= easy_score < easy_cut
    diff_cut = -top_cut(-diff_score, rest, rule.difficult_frac)
    return FittedRule(rule, fitted.pu_sorted, fitted.pp_sorted, amb_cut, easy_cut, diff_cut)


def assign_regions(tasks: pd.DataFrame, rule: RegionRule = RegionRule()) -> pd.Series:
    """The region of every task in a per-task table (columns pu, pp)."""
    fitted = fit_rule(tasks["pu"], tasks["pp"], rule)
    return pd.Series(fitted.classify(tasks["pu"], tasks["pp"]), index=tasks.index, name="region")


def region_counts(regions: pd.Series) -> dict[str, int]:
    counts = regions.value_counts()
    return {name: int(counts.get(name, 0)) for name in REGIONS}
