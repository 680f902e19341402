"""The paper's finding, tested: does training on ambiguous tasks help, on difficult ones not?

    experiment.py  the run: one task map, a model per (subset, seed), per-held-out-task scores
    analysis.py    the statistics: intervals, paired comparisons, Holm, the computed conclusion
    report.py      report.html (self-contained), report.md, figures as PNG, analysis.json
"""

from core.loop.findings.experiment import FindingsRunner, split_holdout, subset_tasks

__all__ = ["FindingsRunner", "split_holdout", "subset_tasks"]
