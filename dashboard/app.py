"""taskmap dashboard: `streamlit run dashboard/app.py` (binds to 127.0.0.1, see .streamlit/config.toml).

The entry point sets up the page, the grouped navigation (nav.SECTIONS) and the sidebar footer;
each page is a short script in views/. Every address (/, /compare, /task_detail, ...) runs this
script first, so a page opened by a reload, a bookmark or a pasted link looks exactly as when it
is reached by a click; an unknown address shows Streamlit's "page not found" notice and the Task
map. The dashboard reads result tables and run directories and starts workers as separate
processes; it never imports torch or runs a model itself.
"""

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repo root
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402

from dashboard.nav import SECTIONS  # noqa: E402
from dashboard.paths import allowed_roots, project_home  # noqa: E402
from dashboard.text import bullets, escape  # noqa: E402

st.set_page_config(page_title="taskmap", page_icon=":material/scatter_plot:", layout="wide")

DEFAULT = next(iter(SECTIONS.values()))[0][0]
page = st.navigation({section: [st.Page(script, title=title, icon=icon, default=script == DEFAULT)
                                for script, title, icon in pages]
                      for section, pages in SECTIONS.items()})
page.run()

with st.sidebar:
    st.divider()
    st.caption(f"Project home: {escape(project_home())} (set `TASKMAP_HOME` to change it)")
    with st.expander("Sharing this dashboard"):
        st.markdown(
            "It listens on **127.0.0.1** only, so no other machine can reach it. It can start jobs and "
            "read the folders below, so expose it deliberately: run\n\n"
            "`streamlit run dashboard/app.py --server.address 0.0.0.0`\n\n"
            "only behind something that authenticates users (an SSH tunnel is simplest: "
            "`ssh -L 8501:127.0.0.1:8501 host`).\n\nFolders it may read:\n"
            + bullets(allowed_roots())
            + "\n\nAdd more with `TASKMAP_ALLOWED_DIRS`.")
