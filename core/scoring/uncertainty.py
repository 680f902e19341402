"""Task-level scores from per-sequence rows (METHOD.md §3), with no model in sight.

Rows hold one scored sequence each: (task, instance, perturbation j, prob = P_j(y)), where
P_j(y) = exp(mean token log-prob of y) and j = 0 is the unperturbed prompt.

    PU(task)         = mean over the n*k pairs (instance, j >= 1) of |P_j(y) - P_0(y)|
    PP(task)         = mean over instances of P_0(y)
    perplexity(task) = mean over instances of 1 / P_0(y)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sequence_prob(token_logprobs: np.ndarray) -> tuple[float, float]:
    """(mean token log-prob, length-normalised probability) of one sequence."""
    mean = float(np.mean(token_logprobs)) if len(token_logprobs) else 0.0
    return mean, float(np.exp(mean))


def instance_deltas(sequences: pd.DataFrame) -> pd.DataFrame:
    """Rows with j >= 1, each with its instance's P_0 and |P_j - P_0|."""
    keys = ["task_id", "instance_id"]
    p0 = sequences.loc[sequences["perturbation"] == 0, keys + ["prob"]].rename(columns={"prob": "p0"})
    perturbed = sequences.loc[sequences["perturbation"] > 0, keys + ["perturbation", "prob"]]
    merged = perturbed.merge(p0, on=keys, how="inner", validate="many_to_one")
    merged["delta"] = (merged["prob"] - merged["p0"]).abs()
    return merged


def task_scores(sequences: pd.DataFrame) -> pd.DataFrame:
    """One row per task: PU, PP, perplexity, their spread and the counts behind them."""
    if sequences.empty:
        return pd.DataFrame(columns=["task_id", "pu", "pp", "perplexity", "pu_sem", "n_instances",
                                     "n_perturbations", "n_sequences", "mean_pred_tokens", "n_truncated"])
    base = sequences[sequences["perturbation"] == 0]
    by_task = base.groupby("task_id", sort=False)
    out = pd.DataFrame({
        "pp": by_task["prob"].mean(),
        "perplexity": by_task["prob"].apply(lambda p: float(np.mean(1.0 / np.maximum(p.to_numpy(), 1e-30)))),
        "n_instances": by_task["instance_id"].nunique(),
        "mean_pred_tokens": by_task["n_tokens"].mean(),
    })
    deltas = instance_deltas(sequences).groupby("task_id", sort=False)["delta"]
    out["pu"] = deltas.mean()
    out["pu_sem"] = deltas.std(ddof=1) / np.sqrt(deltas.count())
    out["n_perturbations"] = sequences.groupby("task_id", sort=False)["perturbation"].max()
    out["n_sequences"] = sequences.groupby("task_id", sort=False).size()
    out["n_truncated"] = sequences.groupby("task_id", sort=False)["truncated"].sum().astype(int)
    out["pu"] = out["pu"].fillna(0.0)
    out = out.reset_index()
    return out[["task_id", "pu", "pp", "perplexity", "pu_sem", "n_instances", "n_perturbations",
                "n_sequences", "mean_pred_tokens", "n_truncated"]]
