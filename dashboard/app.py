"""taskmap dashboard: `streamlit run dashboard/app.py` (binds to 127.0.0.1, see .streamlit/config.toml).

The entry point only sets up navigation and the sidebar footer; each page is a short script in
pages/. The dashboard reads result tables and run directories and starts workers as separate
processes; it never imports torch or runs a model itself.
"""

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repo root
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402

from dashboard.paths import allowed_roots, project_home  # noqa: E402

st.set_page_config(page_title="taskmap", page_icon=":material/scatter_plot:", layout="wide")

pages = {
    "Explore": [
        st.Page("pages/task_map.py", title="Task map", icon=":material/scatter_plot:", default=True),
        st.Page("pages/task_detail.py", title="Task detail", icon=":material/search:"),
        st.Page("pages/policies.py", title="Policies", icon=":material/filter_alt:"),
        st.Page("pages/curate.py", title="Curate", icon=":material/edit_note:"),
    ],
    "Run": [
        st.Page("pages/score.py", title="Score", icon=":material/calculate:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ],
    "Results": [
        st.Page("views/findings.py", title="Findings", icon=":material/science:"),
        st.Page("pages/compare.py", title="Compare and findings", icon=":material/monitoring:"),
        st.Page("pages/overview.py", title="Overview", icon=":material/home:"),
    ],
}
page = st.navigation(pages)
page.run()

with st.sidebar:
    st.divider()
    st.caption(f"Project home: `{project_home()}` (set `TASKMAP_HOME` to change it)")
    with st.expander("Sharing this dashboard"):
        st.markdown(
            "It listens on **127.0.0.1** only, so no other machine can reach it. It can start jobs and "
            "read the folders below, so expose it deliberately: run\n\n"
            "`streamlit run dashboard/app.py --server.address 0.0.0.0`\n\n"
            "only behind something that authenticates users (an SSH tunnel is simplest: "
            "`ssh -L 8501:127.0.0.1:8501 host`).\n\nFolders it may read:\n"
            + "\n".join(f"- `{root}`" for root in allowed_roots())
            + "\n\nAdd more with `TASKMAP_ALLOWED_DIRS`.")
