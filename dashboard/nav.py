"""The dashboard's pages: one script each under views/ (never `pages/`: a folder of that name
next to app.py switches Streamlit to its old automatic multipage mode, in which a page opened by
its address runs on its own, without this navigation, layout and sidebar). app.py builds the
navigation from SECTIONS; pages switch to each other through these paths."""

from __future__ import annotations

TASK_MAP = "views/task_map.py"
TASK_DETAIL = "views/task_detail.py"
POLICIES = "views/policies.py"
CURATE = "views/curate.py"
SCORE = "views/score.py"
TRAIN = "views/train.py"
FINDINGS = "views/findings.py"
COMPARE = "views/compare.py"
OVERVIEW = "views/overview.py"

# section -> (script, title, icon); the first page is the default (the address "/")
SECTIONS: dict[str, list[tuple[str, str, str]]] = {
    "Explore": [
        (TASK_MAP, "Task map", ":material/scatter_plot:"),
        (TASK_DETAIL, "Task detail", ":material/search:"),
        (POLICIES, "Policies", ":material/filter_alt:"),
        (CURATE, "Curate", ":material/edit_note:"),
    ],
    "Run": [
        (SCORE, "Score", ":material/calculate:"),
        (TRAIN, "Train", ":material/model_training:"),
    ],
    "Results": [
        (FINDINGS, "Findings", ":material/science:"),
        (COMPARE, "Compare", ":material/monitoring:"),
        (OVERVIEW, "Overview", ":material/home:"),
    ],
}
