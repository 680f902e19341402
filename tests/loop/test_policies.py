"""Selection policies on hand-built score tables: ordering, quotas, seeds, exclusions, curated lists."""

import pandas as pd
import pytest

from core.config import RegionRule
from core.loop.policies import SelectionRequest, policy_names, select
from core.taskmap.regions import assign_regions


@pytest.fixture()
def scores():
    # 10 tasks: t0..t9; PU rises with the index, perplexity falls; kinds alternate (5 + 5)
    table = pd.DataFrame({
        "task_id": [f"t{i}" for i in range(10)],
        "pu": [0.01 * (i + 1) for i in range(10)],
        "pp": [0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5, 0.55, 0.45],
        "perplexity": [10 - i for i in range(10)],
        "kind": ["classification", "generation"] * 5,
    })
    table["region"] = assign_regions(table, RegionRule(ambiguous_frac=0.2, easy_frac=0.2, difficult_frac=0.2))
    return table


def test_registry():
    assert set(policy_names()) == {"uncertainty", "random", "high-perplexity", "low-perplexity",
                                   "ambiguous", "easy", "difficult", "curated"}


def test_uncertainty_and_perplexity_orderings(scores):
    assert select(scores, SelectionRequest("uncertainty", 3, quota="none")).task_ids == ["t9", "t8", "t7"]
    assert select(scores, SelectionRequest("high-perplexity", 3, quota="none")).task_ids == ["t0", "t1", "t2"]
    assert select(scores, SelectionRequest("low-perplexity", 3, quota="none")).task_ids == ["t9", "t8", "t7"]


def test_quota_selects_within_sub_pools(scores):
    picked = select(scores, SelectionRequest("uncertainty", 4, quota=0.5))
    assert picked.task_ids == ["t8", "t6", "t9", "t7"]  # 2 classification (even) + 2 generation (odd)
    assert select(scores, SelectionRequest("uncertainty", 4, quota=0.25)).table["kind"].value_counts().to_dict() == \
        {"classification": 1, "generation": 3}
    pool_share = select(scores, SelectionRequest("uncertainty", 6, quota="pool"))
    assert (pool_share.table["kind"] == "classification").sum() == 3


def test_random_is_seeded_and_independent_of_row_order(scores):
    a = select(scores, SelectionRequest("random", 5, seed=1, quota="none")).task_ids
    b = select(scores.sample(frac=1, random_state=3), SelectionRequest("random", 5, seed=1, quota="none")).task_ids
    c = select(scores, SelectionRequest("random", 5, seed=2, quota="none")).task_ids
    assert a == b and a != c and len(set(a)) == 5


def test_exclusions(scores):
    picked = select(scores, SelectionRequest("uncertainty", 3, quota="none", exclude=("t9", "t7")))
    assert picked.task_ids == ["t8", "t6", "t5"]
    everything_else = select(scores, SelectionRequest("random", 20, quota="none", exclude=("t0",)))
    assert "t0" not in everything_else.task_ids and everything_else.shortfall == 11


def test_region_policies_pick_from_their_region(scores):
    for region in ("ambiguous", "easy", "difficult"):
        chosen = select(scores, SelectionRequest(region, 2, quota="none"))
        assert set(chosen.table["region"]) == {region}, region
    assert select(scores, SelectionRequest("ambiguous", 2, quota="none")).task_ids == ["t9", "t8"]
    short = select(scores, SelectionRequest("easy", 5, quota="none"))
    assert len(short.task_ids) == 2 and short.shortfall == 3


def test_curated_list_in_given_order(scores):
    chosen = select(scores, SelectionRequest("curated", 0, curated=("t3", "t0", "t7")))
    assert chosen.task_ids == ["t3", "t0", "t7"] and list(chosen.table["pick_rank"]) == [1, 2, 3]
    with pytest.raises(ValueError, match="not in the pool: nope"):
        select(scores, SelectionRequest("curated", 0, curated=("t1", "nope")))


def test_selection_keeps_scores_at_choice(scores):
    chosen = select(scores, SelectionRequest("uncertainty", 2, quota="none"))
    assert list(chosen.table["pu"]) == [0.10, 0.09] and set(chosen.table["policy"]) == {"uncertainty"}


def test_unknown_policy_and_bad_quota(scores):
    with pytest.raises(ValueError, match="unknown policy"):
        select(scores, SelectionRequest("best", 2))
    with pytest.raises(ValueError, match="quota"):
        select(scores, SelectionRequest("random", 2, quota=1.5))
