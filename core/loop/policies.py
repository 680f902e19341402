"""Task selection policies (METHOD.md §5): one small function each, registered by name.

A policy orders the eligible tasks of a score table (one row per task: pu, pp, perplexity,
kind, region); `select` applies the options every policy shares: how many tasks, the
classification/generation quota (select within each sub-pool separately, as the paper does),
tasks to exclude (already trained), and the seed. Each selection keeps the scores its tasks had
when they were chosen.

    uncertainty      highest prompt uncertainty first (the paper's method)
    random           a seeded shuffle
    high-perplexity  highest mean perplexity of the greedy output first
    low-perplexity   lowest first
    ambiguous / easy / difficult
                     tasks of that region of the task map (by the region rule), strongest first
    curated          an explicit list of task ids, in the given order
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from core.config import RegionRule
from core.taskmap.regions import fit_rule

Order = Callable[[pd.DataFrame, np.random.Generator, "Context"], pd.Index]
POLICIES: dict[str, Order] = {}


def register(name: str) -> Callable[[Order], Order]:
    def wrap(fn: Order) -> Order:
        POLICIES[name] = fn
        return fn
    return wrap


@dataclass(frozen=True)
class SelectionRequest:
    """What to pick. quota: "pool" keeps the pool's classification share, "none" ignores kinds,
    or a number in [0, 1] is the classification share (the paper: 24 of 68, about 0.35)."""

    policy: str
    n: int
    seed: int = 0
    quota: str | float = "pool"
    exclude: tuple[str, ...] = ()
    curated: tuple[str, ...] = ()
    rule: RegionRule = field(default_factory=RegionRule)


@dataclass(frozen=True)
class Context:
    """What an order function may look at besides the eligible tasks: the request, and the
    whole scored pool (region strength is measured against the map as drawn)."""

    request: SelectionRequest
    pool: pd.DataFrame


@dataclass
class Selection:
    task_ids: list[str]
    table: pd.DataFrame  # the chosen tasks' rows, with `pick_rank` and `policy` added
    shortfall: int = 0   # tasks asked for but not available (e.g. a small region)


def _by(column: str, ascending: bool) -> Order:
    def order(pool: pd.DataFrame, rng: np.random.Generator, ctx: Context) -> pd.Index:
        # ties broken by task id so the order never depends on table order
        return pool.sort_values([column, "task_id"], ascending=[ascending, True]).index
    return order


register("uncertainty")(_by("pu", ascending=False))
register("high-perplexity")(_by("perplexity", ascending=False))
register("low-perplexity")(_by("perplexity", ascending=True))


@register("random")
def _random(pool: pd.DataFrame, rng: np.random.Generator, ctx: Context) -> pd.Index:
    ordered = pool.sort_values("task_id")
    return ordered.index[rng.permutation(len(ordered))]


def _region_order(region: str) -> Order:
    def order(pool: pd.DataFrame, rng: np.random.Generator, ctx: Context) -> pd.Index:
        inside = pool[pool["region"] == region]
        fitted = fit_rule(ctx.pool["pu"], ctx.pool["pp"], ctx.request.rule)
        amb, easy, difficult = fitted.scores(inside["pu"].to_numpy(), inside["pp"].to_numpy())
        strength = {"ambiguous": amb, "easy": easy, "difficult": -difficult}[region]
        frame = pd.DataFrame({"s": strength, "task_id": inside["task_id"].to_numpy()}, index=inside.index)
        return frame.sort_values(["s", "task_id"], ascending=[False, True]).index
    return order


for _name in ("ambiguous", "easy", "difficult"):
    register(_name)(_region_order(_name))


@register("curated")
def _curated(pool: pd.DataFrame, rng: np.random.Generator, ctx: Context) -> pd.Index:
    position = {task_id: i for i, task_id in enumerate(ctx.request.curated)}
    inside = pool[pool["task_id"].isin(position)]
    return inside.iloc[np.argsort([position[t] for t in inside["task_id"]], kind="stable")].index


def _quota_sizes(pool: pd.DataFrame, n: int, quota: str | float) -> dict[str, int] | None:
    if quota == "none" or "kind" not in pool:
        return None
    share = (pool["kind"] == "classification").mean() if quota == "pool" else float(quota)
    if not 0 <= share <= 1:
        raise ValueError(f"quota must be 'pool', 'none' or a share in [0, 1], got {quota!r}")
    n_cls = int(round(n * share))
    return {"classification": n_cls, "generation": n - n_cls}


def select(scores: pd.DataFrame, request: SelectionRequest) -> Selection:
    """Pick `request.n` tasks from a per-task score table with the named policy."""
    if request.policy not in POLICIES:
        raise ValueError(f"unknown policy {request.policy!r}; choose from {sorted(POLICIES)}")
    if request.policy == "curated":
        unknown = sorted(set(request.curated) - set(scores["task_id"]))
        if unknown:
            raise ValueError(f"curated task ids not in the pool: {', '.join(unknown[:10])}")
    table = scores.reset_index(drop=True)
    if "region" not in table and request.policy in ("ambiguous", "easy", "difficult"):
        raise ValueError("region policies need a 'region' column (score the pool first)")
    rng = np.random.default_rng(request.seed)
    order_fn = POLICIES[request.policy]
    ctx = Context(request, table)
    eligible = table[~table["task_id"].isin(set(request.exclude))]
    if request.policy == "curated":
        sizes = None
        n = len(request.curated) if request.n <= 0 else request.n
    else:
        n = request.n
        sizes = _quota_sizes(eligible, n, request.quota)
    picked: list[int] = []
    shortfall = 0
    if sizes is None:
        order = list(order_fn(eligible, rng, ctx))
        picked = order[:n]
        shortfall = n - len(picked)
    else:
        for kind, want in sizes.items():
            sub = eligible[eligible["kind"] == kind]
            order = list(order_fn(sub, rng, ctx))
            picked += order[:want]
            shortfall += max(0, want - len(order))
    chosen = table.loc[picked].copy()
    chosen["pick_rank"] = range(1, len(chosen) + 1)
    chosen["policy"] = request.policy
    return Selection(list(chosen["task_id"]), chosen.reset_index(drop=True), shortfall)


def policy_names() -> list[str]:
    return list(POLICIES)
